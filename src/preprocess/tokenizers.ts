// The tokenizer a model family uses, behind one interface, chosen by `tokenizer.json`'s `model.type`
// (WordPiece for BLIP; byte-level BPE for BLIP-2's OPT).
import { existsSync } from "node:fs";
import path from "node:path";
import { BpeTokenizer } from "./bpe.js";
import { readTokenizerConfig } from "./bpe_files.js";
import { BertTokenizer, type DecodeOptions, type Encoding } from "./tokenizer.js";
import { readTokenizerJson, TokenizerError } from "./tokenizer_json.js";

export type { DecodeOptions, Encoding };

/** What the pipeline and training need of a tokenizer: transformers' fast-tokenizer encode and decode. */
export interface Tokenizer {
  /** Tokens the tokenizer knows (vocabulary plus added tokens). */
  readonly vocabSize: number;
  readonly padTokenId: number;
  /** One text, special tokens of the post-processor template added unless `addSpecialTokens: false`. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): Encoding;
  /** `decode(ids, {skipSpecialTokens: true})` is what `batch_decode(..., skip_special_tokens=True)` gives per row. */
  decode(ids: readonly number[], opts?: DecodeOptions): string;
}

/** `tokenizer.json` model types → how to build the tokenizer from the parsed file (and its path, for files beside it). */
const TOKENIZERS: Readonly<Record<string, (json: unknown, file: string) => Tokenizer>> = {
  WordPiece: (json) => BertTokenizer.fromJson(json),
  BPE: (json, file) => BpeTokenizer.fromJson(json, readTokenizerConfig(path.dirname(file))),
};

/**
 * Reads a `tokenizer.json` and builds the tokenizer its `model.type` names; errors name the file and the fix.
 * A folder with only the slow GPT-2 files (`vocab.json` + `merges.txt`) gets the byte-level BPE they describe.
 */
export function loadTokenizer(file: string): Tokenizer {
  const folder = path.dirname(file);
  if (!existsSync(file) && existsSync(path.join(folder, "vocab.json")) && existsSync(path.join(folder, "merges.txt"))) {
    return BpeTokenizer.fromSlowFiles(folder);
  }
  const json = readTokenizerJson(file);
  const type = (json as { model?: { type?: unknown } } | null)?.model?.type;
  const make = typeof type === "string" ? TOKENIZERS[type] : undefined;
  if (!make) throw new TokenizerError(`${file}: model.type ${JSON.stringify(type)} is not supported: only ${Object.keys(TOKENIZERS).join(", ")}`);
  try {
    return make(json, file);
  } catch (err) {
    if (err instanceof TokenizerError) throw new TokenizerError(`${file}: ${err.message}`);
    throw err;
  }
}
