// Hugging Face `datasets` parquet files (what push_to_hub writes under data/): an `image` struct
// column {bytes, path}, caption columns (`text`, `caption`, a `captions` list, `caption_0`…) and
// optionally `split`. Read with hyparquet (pure JS; snappy, gzip, zstd and brotli pages through
// hyparquet-compressors), one row group at a time, so a large file is never in memory at once.
import { type AsyncBuffer, type FileMetaData, parquetMetadataAsync, parquetReadObjects, parquetSchema, type SchemaTree } from "hyparquet";
import { compressors } from "hyparquet-compressors";

/** A file that is not a parquet file, or has no image column; the message says what to fix. */
export class ParquetError extends Error {
  override name = "ParquetError";
}

/** "PAR1" */
export function looksLikeParquet(head: Uint8Array): boolean {
  return head[0] === 0x50 && head[1] === 0x41 && head[2] === 0x52 && head[3] === 0x31;
}

/** Where a file keeps its images, captions and split. */
export interface ParquetLayout {
  metadata: FileMetaData;
  rows: number;
  imageColumn: string;
  /** The caption and split columns present (read as `captionsOf` / `splitOfRow` expect them). */
  otherColumns: string[];
}

const CAPTION_OR_SPLIT = /^(text|caption|captions|caption_\d+|split)$/;

/** Reads the footer and finds the columns; throws ParquetError when the file cannot be imported. */
export async function inspectParquet(file: AsyncBuffer): Promise<ParquetLayout> {
  let metadata: FileMetaData;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (error) {
    throw new ParquetError(`not a readable parquet file (${(error as Error).message})`);
  }
  const columns = parquetSchema(metadata).children;
  const image = columns.find((c) => c.element.name === "image" && hasBytes(c)) ?? columns.find(hasBytes);
  if (!image) {
    const names = columns.map((c) => c.element.name).join(", ");
    throw new ParquetError(`no image column: expected a struct column like datasets' Image feature, {bytes, path} (the file has: ${names})`);
  }
  const otherColumns = columns.map((c) => c.element.name).filter((n) => CAPTION_OR_SPLIT.test(n));
  return { metadata, rows: Number(metadata.num_rows), imageColumn: image.element.name, otherColumns };
}

function hasBytes(column: SchemaTree): boolean {
  return column.children.some((c) => c.element.name === "bytes");
}

/** One row: its index in the file, the image bytes (or why there are none) and its caption/split columns. */
export interface ParquetRow {
  index: number;
  image: Uint8Array | null;
  /** The `path` of the image struct, for messages. */
  imagePath: string | null;
  columns: Record<string, unknown>;
}

/** The rows, a row group at a time. */
export async function* parquetRows(file: AsyncBuffer, layout: ParquetLayout): AsyncGenerator<ParquetRow> {
  let start = 0;
  for (const group of layout.metadata.row_groups) {
    const end = start + Number(group.num_rows);
    const rows = await parquetReadObjects({
      file,
      metadata: layout.metadata,
      columns: [layout.imageColumn, ...layout.otherColumns],
      rowStart: start,
      rowEnd: end,
      utf8: false, // unannotated byte arrays are image bytes, not text
      compressors,
    });
    for (const [i, row] of rows.entries()) {
      const { [layout.imageColumn]: image, ...columns } = row;
      const struct = (image ?? {}) as { bytes?: unknown; path?: unknown };
      yield {
        index: start + i,
        image: struct.bytes instanceof Uint8Array ? struct.bytes : null,
        imagePath: typeof struct.path === "string" ? struct.path : struct.path instanceof Uint8Array ? Buffer.from(struct.path).toString("utf8") : null,
        columns: Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, asText(v)])),
      };
    }
    start = end;
  }
}

/** Text columns written without the STRING annotation arrive as bytes (utf8: false above). */
function asText(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString("utf8");
  return Array.isArray(value) ? value.map(asText) : value;
}
