// A restricted unpickler. It interprets the data-building opcodes of pickle protocols 0-5 and
// builds plain JS values; it never executes anything. Every reference to a Python global, every
// call (REDUCE/NEWOBJ), BUILD and persistent id is delegated to hooks, which decide what is allowed.
import { CheckpointError } from "./types.js";

/** What the unpickler delegates; the hooks decide which globals exist and what calling them means. */
export interface UnpickleHooks {
  /** Resolves `module.name` (GLOBAL / STACK_GLOBAL); must throw for anything not allowed. */
  findGlobal(module: string, name: string): unknown;
  /** BINPERSID / PERSID: turns a persistent id into a value (torch: a storage). */
  persistentLoad(pid: unknown): unknown;
  /** REDUCE, NEWOBJ and NEWOBJ_EX: "call" `callable` (a value findGlobal returned) with `args`. */
  call(callable: unknown, args: readonly unknown[]): unknown;
  /** BUILD: apply `state` to `obj` (e.g. an OrderedDict's `_metadata`). */
  build(obj: unknown, state: unknown): void;
}

/** Python tuples come out as frozen arrays, lists as plain arrays, dicts as Maps, sets as Sets. */
export type PickleTuple = readonly unknown[];

/** Unpickles `data` with `hooks`; `what` names the source in error messages. */
export function unpickle(data: Uint8Array, hooks: UnpickleHooks, what: string): unknown {
  return new Machine(data, hooks, what).run();
}

class Machine {
  private pos = 0;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private memo = new Map<number, unknown>();
  private readonly dv: DataView;

  constructor(private readonly data: Uint8Array, private readonly hooks: UnpickleHooks, private readonly what: string) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private fail(why: string): never {
    throw new CheckpointError(`${this.what}: ${why} (at byte ${this.pos} of the pickle)`);
  }

  private need(n: number): number {
    if (n < 0 || this.pos + n > this.data.length) this.fail("the pickle ends in the middle of an opcode; the file is truncated or corrupt");
    const at = this.pos;
    this.pos += n;
    return at;
  }
  private u8(): number { return this.data[this.need(1)]!; }
  private u16(): number { return this.dv.getUint16(this.need(2), true); }
  private u32(): number { return this.dv.getUint32(this.need(4), true); }
  private i32(): number { return this.dv.getInt32(this.need(4), true); }
  private u64(): number {
    const v = this.dv.getBigUint64(this.need(8), true);
    if (v > BigInt(this.data.length)) this.fail(`a length of ${v} exceeds the pickle's size`);
    return Number(v);
  }
  private bytes(n: number): Uint8Array { const at = this.need(n); return this.data.subarray(at, at + n); }
  private utf8(n: number): string { return Buffer.from(this.bytes(n)).toString("utf8"); }
  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) this.fail("the pickle ends in the middle of an opcode (inside a text line); the file is truncated or corrupt");
    const s = Buffer.from(this.data.subarray(this.pos, end)).toString("latin1");
    this.pos = end + 1;
    return s;
  }

  private pop(): unknown {
    const floor = this.marks.at(-1) ?? 0;
    if (this.stack.length <= floor) this.fail("stack underflow (an opcode reached below a MARK)");
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length === 0) this.fail("stack underflow");
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail("no MARK on the stack");
    return this.stack.splice(m);
  }
  private put(id: number): void {
    this.memo.set(id, this.top());
  }
  private get(id: number): void {
    if (!this.memo.has(id)) this.fail(`memo key ${id} was never stored`);
    this.stack.push(this.memo.get(id));
  }

  private asDict(v: unknown): Map<unknown, unknown> {
    if (!(v instanceof Map)) this.fail("SETITEM(S) on something that is not a dict");
    return v;
  }
  private asList(v: unknown): unknown[] {
    if (!Array.isArray(v) || Object.isFrozen(v)) this.fail("APPEND(S) on something that is not a list");
    return v;
  }
  private asTuple(v: unknown): PickleTuple {
    if (!Array.isArray(v)) this.fail("expected a tuple of arguments");
    return v;
  }
  private asString(v: unknown, what: string): string {
    if (typeof v !== "string") this.fail(`${what} must be a string`);
    return v;
  }
  private tuple(items: unknown[]): PickleTuple {
    return Object.freeze(items);
  }

  /** Two's-complement little-endian integer (LONG1/LONG4); numbers when exact, else bigint. */
  private long(n: number): number | bigint {
    const b = this.bytes(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  run(): unknown {
    for (;;) {
      const op = this.u8();
      const s = this.stack;
      switch (op) {
        case 0x80: { // PROTO
          const proto = this.u8();
          if (proto > 5) this.fail(`pickle protocol ${proto} is newer than the supported 5`);
          break;
        }
        case 0x95: this.u64(); break; // FRAME: framing is transparent to a whole-buffer reader
        case 0x2e: // STOP
          if (s.length !== 1 || this.marks.length) this.fail("the pickle stops with a malformed stack");
          return s[0];

        case 0x28: this.marks.push(s.length); break; // MARK
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: s.push(this.top()); break; // DUP

        case 0x4e: s.push(null); break; // NONE
        case 0x88: s.push(true); break; // NEWTRUE
        case 0x89: s.push(false); break; // NEWFALSE
        case 0x4a: s.push(this.i32()); break; // BININT
        case 0x4b: s.push(this.u8()); break; // BININT1
        case 0x4d: s.push(this.u16()); break; // BININT2
        case 0x8a: s.push(this.long(this.u8())); break; // LONG1
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0) this.fail("negative LONG4 length");
          s.push(this.long(n));
          break;
        }
        case 0x49: { // INT (protocol 0): "01"/"00" are True/False
          const t = this.line();
          if (t === "01") s.push(true);
          else if (t === "00") s.push(false);
          else s.push(this.parseInt(t));
          break;
        }
        case 0x4c: s.push(this.parseInt(this.line().replace(/L$/, ""))); break; // LONG (protocol 0)
        case 0x47: s.push(this.dv.getFloat64(this.need(8), false)); break; // BINFLOAT (big-endian)
        case 0x46: s.push(Number.parseFloat(this.line())); break; // FLOAT

        case 0x58: s.push(this.utf8(this.u32())); break; // BINUNICODE
        case 0x8c: s.push(this.utf8(this.u8())); break; // SHORT_BINUNICODE
        case 0x8d: s.push(this.utf8(this.u64())); break; // BINUNICODE8
        case 0x54: { // BINSTRING (Python 2 str)
          const n = this.i32();
          s.push(Buffer.from(this.bytes(n)).toString("latin1"));
          break;
        }
        case 0x55: s.push(Buffer.from(this.bytes(this.u8())).toString("latin1")); break; // SHORT_BINSTRING
        case 0x42: s.push(this.bytes(this.u32())); break; // BINBYTES
        case 0x43: s.push(this.bytes(this.u8())); break; // SHORT_BINBYTES
        case 0x8e: s.push(this.bytes(this.u64())); break; // BINBYTES8
        case 0x96: s.push(Uint8Array.from(this.bytes(this.u64()))); break; // BYTEARRAY8

        case 0x7d: s.push(new Map()); break; // EMPTY_DICT
        case 0x5d: s.push([]); break; // EMPTY_LIST
        case 0x29: s.push(this.tuple([])); break; // EMPTY_TUPLE
        case 0x8f: s.push(new Set()); break; // EMPTY_SET
        case 0x85: s.push(this.tuple([this.pop()])); break; // TUPLE1
        case 0x86: { const b = this.pop(); const a = this.pop(); s.push(this.tuple([a, b])); break; } // TUPLE2
        case 0x87: { const c = this.pop(); const b = this.pop(); const a = this.pop(); s.push(this.tuple([a, b, c])); break; } // TUPLE3
        case 0x74: s.push(this.tuple(this.popMark())); break; // TUPLE
        case 0x6c: s.push(this.popMark()); break; // LIST
        case 0x91: s.push(new Set(this.popMark())); break; // FROZENSET
        case 0x64: s.push(this.pairs(new Map(), this.popMark())); break; // DICT

        case 0x61: { const v = this.pop(); this.asList(this.top()).push(v); break; } // APPEND
        case 0x65: { const items = this.popMark(); this.asList(this.top()).push(...items); break; } // APPENDS
        case 0x73: { const v = this.pop(); const k = this.pop(); this.asDict(this.top()).set(k, v); break; } // SETITEM
        case 0x75: { const items = this.popMark(); this.pairs(this.asDict(this.top()), items); break; } // SETITEMS
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const set = this.top();
          if (!(set instanceof Set)) this.fail("ADDITEMS on something that is not a set");
          for (const it of items) set.add(it);
          break;
        }

        case 0x71: this.put(this.u8()); break; // BINPUT
        case 0x72: this.put(this.u32()); break; // LONG_BINPUT
        case 0x94: this.put(this.memo.size); break; // MEMOIZE
        case 0x70: this.put(this.parseInt(this.line()) as number); break; // PUT
        case 0x68: this.get(this.u8()); break; // BINGET
        case 0x6a: this.get(this.u32()); break; // LONG_BINGET
        case 0x67: this.get(this.parseInt(this.line()) as number); break; // GET

        case 0x63: { // GLOBAL "module\nname\n"
          const module = this.line();
          const name = this.line();
          s.push(this.hooks.findGlobal(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.asString(this.pop(), "STACK_GLOBAL name");
          const module = this.asString(this.pop(), "STACK_GLOBAL module");
          s.push(this.hooks.findGlobal(module, name));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.asTuple(this.pop());
          const fn = this.pop();
          s.push(this.hooks.call(fn, args));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.asTuple(this.pop());
          const cls = this.pop();
          s.push(this.hooks.call(cls, args));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.asTuple(this.pop());
          const cls = this.pop();
          if (!(kwargs instanceof Map) || kwargs.size > 0) this.fail("keyword arguments in NEWOBJ_EX are not supported");
          s.push(this.hooks.call(cls, args));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          this.hooks.build(this.top(), state);
          break;
        }
        case 0x51: s.push(this.hooks.persistentLoad(this.pop())); break; // BINPERSID
        case 0x50: s.push(this.hooks.persistentLoad(this.line())); break; // PERSID

        // INST/OBJ instantiate arbitrary classes; EXT* look globals up in a registry; out-of-band
        // buffers and protocol-0 quoted strings never occur in torch state dicts.
        case 0x69: { // INST: resolve the name first so a forbidden global gets the usual refusal
          const module = this.line();
          const name = this.line();
          this.hooks.findGlobal(module, name);
          this.fail(`opcode INST (${module}.${name}) creates arbitrary objects and is refused`);
        }
        default:
          this.fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")} (${printable(op)}); only tensor state dicts are loaded`);
      }
    }
  }

  private pairs(dict: Map<unknown, unknown>, items: unknown[]): Map<unknown, unknown> {
    if (items.length % 2) this.fail("odd number of items for a dict");
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
    return dict;
  }

  private parseInt(text: string): number | bigint {
    if (!/^[+-]?\d+$/.test(text)) this.fail(`bad integer literal ${JSON.stringify(text)}`);
    const v = BigInt(text);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
}

function printable(op: number): string {
  return op >= 0x20 && op < 0x7f ? JSON.stringify(String.fromCharCode(op)) : "binary";
}
