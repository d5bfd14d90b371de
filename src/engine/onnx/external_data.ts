// A file that initializers are written to when they cannot be referenced in place in a checkpoint
// (weights derived at load time, e.g. int8): ONNX external data, so that the ModelProto stays under
// protobuf's 2 GB limit and holds no copy of them. Each tensor is written once, then its bytes can
// be dropped; two graphs of one model that share a weight share its bytes in the file.
import * as fs from "node:fs";
import * as path from "node:path";

/** Where onnxruntime reads a tensor: `location` relative to the session's external-data folder. */
export interface ExternalLocation {
  location: string;
  offset: number;
  length: number;
}

// Page-aligned offsets let onnxruntime map a tensor from the file instead of reading it into a copy.
const ALIGN = 4096;

/** Smaller initializers stay inline: a file entry per bias or scale would only add overhead. */
export const SPILL_MIN_BYTES = 64 * 1024;

export class ExternalDataFile {
  private readonly fd: number;
  private size = 0;
  private readonly written = new Map<string, ExternalLocation>();

  /** Creates (truncates) `folder/name`; initializers of at least `minBytes` go there. */
  constructor(
    readonly folder: string,
    readonly name: string,
    readonly minBytes = SPILL_MIN_BYTES,
  ) {
    fs.mkdirSync(folder, { recursive: true });
    this.fd = fs.openSync(path.join(folder, name), "w");
  }

  get path(): string {
    return path.join(this.folder, this.name);
  }

  /** Bytes written so far (with alignment padding). */
  get bytes(): number {
    return this.size;
  }

  /** Writes tensor `key` (its bytes read only if not written before) and says where it is. */
  put(key: string, bytes: () => Uint8Array): ExternalLocation {
    const seen = this.written.get(key);
    if (seen) return seen;
    const data = bytes();
    const offset = Math.ceil(this.size / ALIGN) * ALIGN;
    let done = 0;
    while (done < data.byteLength) done += fs.writeSync(this.fd, data, done, Math.min(data.byteLength - done, 1 << 30), offset + done);
    this.size = offset + data.byteLength;
    const where = { location: this.name, offset, length: data.byteLength };
    this.written.set(key, where);
    return where;
  }

  /** Closes the file and removes it: sessions created from it have read or mapped what they need. */
  remove(): void {
    fs.closeSync(this.fd);
    fs.rmSync(this.path, { force: true });
  }
}
