// A minimal protobuf *writer*: just what the ONNX messages we emit need (varints, 64-bit ints,
// floats, length-delimited fields). Messages are built bottom-up as byte chunks, so a large model
// is assembled without re-encoding nested messages.

const enum WireType { Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5 }

/** Accumulates the encoded fields of one message. `new Message().int(1, 7).string(2, "x").bytes()` */
export class Message {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(chunk: Uint8Array): this {
    this.chunks.push(chunk);
    this.length += chunk.length;
    return this;
  }

  private key(field: number, wire: WireType): this {
    return this.push(varint(BigInt((field << 3) | wire)));
  }

  /** int32/int64/enum/bool field (negative values use 10-byte two's complement, as protobuf does). */
  int(field: number, value: number | bigint): this {
    return this.key(field, WireType.Varint).push(varint(BigInt.asUintN(64, BigInt(value))));
  }

  /** Packed repeated int64 field. */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const body = concat(values.map((v) => varint(BigInt.asUintN(64, BigInt(v)))));
    return this.key(field, WireType.LengthDelimited).push(varint(BigInt(body.length))).push(body);
  }

  /** Packed repeated float field. */
  packedFloats(field: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    const body = new Uint8Array(new Float32Array(values).buffer);
    return this.key(field, WireType.LengthDelimited).push(varint(BigInt(body.length))).push(body);
  }

  float(field: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    return this.key(field, WireType.Fixed32).push(b);
  }

  string(field: number, value: string): this {
    return this.bytesField(field, new TextEncoder().encode(value));
  }

  bytesField(field: number, value: Uint8Array): this {
    return this.key(field, WireType.LengthDelimited).push(varint(BigInt(value.length))).push(value);
  }

  /** A nested message: its chunks are taken over, not copied (a model's weights are copied once, by `bytes()`). */
  message(field: number, value: Message): this {
    this.key(field, WireType.LengthDelimited).push(varint(BigInt(value.length)));
    for (const chunk of value.chunks) this.push(chunk);
    return this;
  }

  /** The encoded message. */
  bytes(): Uint8Array {
    return concat(this.chunks, this.length);
  }
}

function varint(value: bigint): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function concat(chunks: readonly Uint8Array[], total = chunks.reduce((n, c) => n + c.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
