/**
 * One table per option set: each entry gives the default, the accepted range and a sentence of help.
 * The TypeScript type, the validation here, and later the route's JSON schema and the CLI flags all
 * derive from the table, so a limit is written once.
 */

export interface NumericOption {
  default: number;
  min: number;
  max: number;
  /** Whole numbers only (counts); false for fractions. */
  integer: boolean;
  doc: string;
}

export type OptionTable = Record<string, NumericOption>;

/** The caller-side type of a table: every option optional. */
export type OptionsOf<T extends OptionTable> = { -readonly [K in keyof T]?: number };

/**
 * Fills defaults and checks ranges; throws a RangeError naming the option, what it accepts and what it got.
 * @example resolveOptions("colors", COLOR_OPTIONS, { maxColors: 4 }) // { maxColors: 4, maxSamples: 16384 }
 */
export function resolveOptions<T extends OptionTable>(what: string, table: T, given: OptionsOf<T> = {}): Readonly<Required<OptionsOf<T>>> {
  const resolved: Record<string, number> = {};
  for (const [key, spec] of Object.entries(table)) {
    const value = given[key] ?? spec.default;
    const valid = typeof value === "number" && (spec.integer ? Number.isInteger(value) : Number.isFinite(value)) && value >= spec.min && value <= spec.max;
    if (!valid) {
      const kind = spec.integer ? "an integer" : "a number";
      throw new RangeError(`${what} option ${key} must be ${kind} from ${spec.min} to ${spec.max} (got ${JSON.stringify(value)}). ${spec.doc}`);
    }
    resolved[key] = value;
  }
  for (const key of Object.keys(given)) {
    if (!(key in table)) throw new RangeError(`${what} has no option ${JSON.stringify(key)}; the options are ${Object.keys(table).join(", ")}.`);
  }
  return Object.freeze(resolved) as Required<OptionsOf<T>>;
}
