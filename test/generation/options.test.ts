// The option table (src/generation/options.ts) and what derives from it: every row reaches the HTTP
// schema, the CLI flags and the converters, and out-of-range values are refused with the option's
// snake_case name and the limit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Command } from "commander";
import { captionOptionProperties } from "../../src/api/schemas.js";
import { captionOptions as apiCaptionOptions } from "../../src/api/routes/input.js";
import { captionOptions as cliCaptionOptions, type GenerationFlags, withGenerationFlags } from "../../src/cli/common.js";
import { resolveOptions } from "../../src/generation/generate.js";
import {
  type CaptionKwargs, type CaptionOptions, checkOptionValues, fromKwargs, type GenerationDefaults, GenerationOptionsError, OPTION_FIELDS, OPTION_NAMES,
  type OptionName, optionField, serverCap, toKwargs, TRANSFORMERS_DEFAULTS, withKwargNames,
} from "../../src/generation/options.js";
import { blipBase, toHfConfigJson } from "../../src/models/blip/config.js";
import type { CheckpointGenerationConfig } from "../../src/models/caption_model.js";
import { InputError, validateCaptionOptions } from "../../src/serving/caption_service.js";
import { DEFAULT_LIMITS, type ServerLimits } from "../../src/serving/config.js";
import { testApp } from "../helpers/app.js";

const limits: ServerLimits = { ...DEFAULT_LIMITS, maxBeams: 4, maxNewTokens: 30 };

/** A valid value of every option, with the API's and the CLI's spelling of it. */
const SAMPLE: Record<OptionName, { value: string | number | boolean; argv: string[] }> = {
  prompt: { value: "a photo of", argv: ["--prompt", "a photo of"] },
  maxNewTokens: { value: 12, argv: ["--max-new-tokens", "12"] },
  minNewTokens: { value: 2, argv: ["--min-new-tokens", "2"] },
  maxLength: { value: 30, argv: ["--max-length", "30"] },
  minLength: { value: 3, argv: ["--min-length", "3"] },
  numBeams: { value: 3, argv: ["--num-beams", "3"] },
  numReturnSequences: { value: 2, argv: ["--num-return-sequences", "2"] },
  lengthPenalty: { value: -0.5, argv: ["--length-penalty", "-0.5"] },
  earlyStopping: { value: true, argv: ["--early-stopping"] },
  repetitionPenalty: { value: 1.5, argv: ["--repetition-penalty", "1.5"] },
  noRepeatNgramSize: { value: 2, argv: ["--no-repeat-ngram-size", "2"] },
};
const sampleOptions = Object.fromEntries(OPTION_NAMES.map((n) => [n, SAMPLE[n].value])) as CaptionOptions;
const sampleKwargs = Object.fromEntries(OPTION_NAMES.map((n) => [optionField(n).key, SAMPLE[n].value])) as CaptionKwargs;

test("the table: snake_case keys are the camelCase names' words; defaults are transformers'", () => {
  assert.deepEqual(Object.keys(SAMPLE).sort(), [...OPTION_NAMES].sort(), "the test covers every row");
  for (const name of OPTION_NAMES) assert.equal(optionField(name).key.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), name);
  assert.deepEqual(TRANSFORMERS_DEFAULTS, {
    maxLength: 20, minLength: 0, numBeams: 1, numReturnSequences: 1, lengthPenalty: 1, earlyStopping: false, repetitionPenalty: 1, noRepeatNgramSize: 0,
  });
});

test("config.json's generation keys (models/blip/config.ts) agree with the table's model defaults", () => {
  const textConfig = toHfConfigJson(blipBase()).text_config as Record<string, unknown>;
  for (const name of OPTION_NAMES.filter((n) => optionField(n).fromModel)) {
    assert.equal(textConfig[optionField(name).key], optionField(name).default, name);
  }
  const { doSample: _doSample, ...defaults } = blipBase().text.generation;
  assert.deepEqual(defaults, TRANSFORMERS_DEFAULTS);
  // Compile-time: the models layer's contract names the same settings (do_sample aside, which is no option).
  type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
  const sameSettings: Same<Exclude<keyof CheckpointGenerationConfig, "doSample">, keyof GenerationDefaults> = true;
  assert.ok(sameSettings);
});

test("every row reaches the HTTP schema, with the server's caps written in", () => {
  const properties = captionOptionProperties(limits) as Record<string, Record<string, unknown>>;
  assert.deepEqual(Object.keys(properties), OPTION_NAMES.map((n) => optionField(n).key));
  assert.deepEqual(properties.num_beams, {
    type: "integer", minimum: 1, maximum: 4,
    description: "beam search width (1 = greedy); default: the model's, else 1; at most 4 (the server's maxBeams limit)",
  });
  assert.equal(properties.max_length!.maximum, 30 + 64);
  assert.deepEqual(properties.length_penalty, { type: "number", minimum: -10, maximum: 10, description: "beam score = log-prob / length^x; default: the model's, else 1" });
  assert.equal(properties.repetition_penalty!.exclusiveMinimum, 0);
  assert.equal(properties.prompt!.maxLength, 500);
  assert.equal(properties.early_stopping!.type, "boolean");
  assert.match(String(properties.num_return_sequences!.description), /≤ num_beams/);
});

test("every row reaches the CLI: transformers' name with dashes, parsed into the library's option", () => {
  const cmd = withGenerationFlags(new Command("caption")).exitOverride().configureOutput({ writeErr: () => {} });
  assert.deepEqual(cmd.options.map((o) => o.long), OPTION_NAMES.map((n) => `--${optionField(n).key.replaceAll("_", "-")}`));
  cmd.parse(OPTION_NAMES.flatMap((n) => SAMPLE[n].argv), { from: "user" });
  assert.deepEqual(cliCaptionOptions(cmd.opts<GenerationFlags>()), sampleOptions);
  // commander's negation quirk: without the flag, `repeatNgramSize` is `true`, which is no option.
  const bare = withGenerationFlags(new Command("caption"));
  bare.parse([], { from: "user" });
  assert.deepEqual(cliCaptionOptions(bare.opts<GenerationFlags>()), {});
  for (const argv of [["--num-beams", "0"], ["--min-length", "-1"], ["--repetition-penalty", "0"], ["--length-penalty", "x"]]) {
    const strict = withGenerationFlags(new Command("caption")).exitOverride().configureOutput({ writeErr: () => {} });
    assert.throws(() => strict.parse(argv, { from: "user" }), /is invalid/, argv.join(" "));
  }
});

test("every row reaches the converters: API ↔ library, and error messages in the API's names", () => {
  assert.deepEqual(apiCaptionOptions(sampleKwargs), sampleOptions);
  assert.deepEqual(fromKwargs(sampleKwargs), sampleOptions);
  assert.deepEqual(toKwargs(sampleOptions), sampleKwargs);
  assert.deepEqual(apiCaptionOptions({ prompt: "", num_beams: 2 }), { numBeams: 2 }, "an empty form field is unset");
  assert.equal(withKwargNames("numReturnSequences (3) cannot exceed numBeams (2)"), "num_return_sequences (3) cannot exceed num_beams (2)");
});

test("valid ranges: the library refuses a value out of range, naming the option", () => {
  checkOptionValues(sampleOptions);
  for (const name of OPTION_NAMES) {
    const f = optionField(name);
    const bad = f.kind === "boolean" ? "yes" : f.kind === "string" ? 3 : f.min !== undefined ? f.min - 1 : f.above !== undefined ? f.above : Infinity;
    if (name === "prompt") continue; // a prompt may also be a list (one per image)
    assert.throws(() => checkOptionValues({ [name]: bad }), (e: Error) => e instanceof GenerationOptionsError && e.message.startsWith(`${name} must be `), name);
    assert.throws(() => resolveOptions({ [name]: bad }, TRANSFORMERS_DEFAULTS, 1), GenerationOptionsError, name);
  }
});

test("server caps: validateCaptionOptions refuses a value over its cap with the snake_case name and the limit", () => {
  validateCaptionOptions({ numBeams: 4, numReturnSequences: 4, maxNewTokens: 30, minNewTokens: 30, noRepeatNgramSize: 30, lengthPenalty: -10 }, limits);
  for (const name of OPTION_NAMES) {
    const cap = serverCap(name, limits);
    if (!cap) continue;
    const over = optionField(name).kind === "string" ? "x".repeat(cap.max + 1) : cap.max + 1;
    assert.throws(
      () => validateCaptionOptions({ [name]: over }, limits),
      (e: Error) => e instanceof InputError && e.status === 400 && e.code === "option_out_of_range" && e.message.startsWith(`${optionField(name).key} must be`) && e.message.includes(String(cap.max)),
      name,
    );
  }
  assert.throws(() => validateCaptionOptions({ numBeams: 5 }, limits), /^InputError: num_beams must be ≤ 4 \(the server's maxBeams limit\); got 5$/);
  assert.throws(() => validateCaptionOptions({ lengthPenalty: -11 }, limits), /length_penalty must be ≥ -10/);
  assert.throws(() => validateCaptionOptions({ numBeams: 0 }, limits), (e: Error) => e instanceof InputError && e.code === "invalid_option" && /^num_beams must be an integer ≥ 1/.test(e.message));
});

test("issue 15: options a model cannot fit are refused before any work is queued", () => {
  const options = { numBeams: 5, minNewTokens: 60, maxNewTokens: 64 };
  const serverDefaults = { ...DEFAULT_LIMITS };
  validateCaptionOptions(options, serverDefaults); // no model at hand: nothing to object to
  assert.throws(
    () => validateCaptionOptions(options, serverDefaults, { defaults: TRANSFORMERS_DEFAULTS, promptLength: 1, maxPositions: 64 }),
    (e: Error) => e instanceof InputError && e.code === "option_out_of_range" && /max_length 65 .* exceeds the model's 64 positions; .* lower max_new_tokens/.test(e.message),
  );
});

test("the HTTP API refuses each option's out-of-range value in the schema, naming its field", async () => {
  const t = await testApp({ limits, load: false });
  try {
    const post = (options: object) => t.app.inject({ method: "POST", url: "/v1/captions", payload: { images: ["aGVsbG8="], options } });
    const accepted = await post(sampleKwargs); // past the schema: the unloaded model answers
    assert.equal(accepted.json().error.code, "model_not_ready", accepted.body);
    for (const name of OPTION_NAMES) {
      const f = optionField(name);
      const cap = serverCap(name, limits);
      const bad = f.kind === "boolean" ? "yes" : f.kind === "string" ? "x".repeat(cap!.max + 1) : cap!.max + 1;
      const res = await post({ [f.key]: bad });
      assert.equal(res.statusCode, 400, name);
      assert.match(res.json().error.message, new RegExp(`^body\\.options\\.${f.key} must`), name);
    }
  } finally {
    await t.app.close();
  }
});

test("OPTION_FIELDS is the one list: the GenerationOptions type has its keys", () => {
  // Compile-time: a key missing from the table would not type-check here.
  const all: Required<Omit<CaptionOptions, "prompt">> = { ...TRANSFORMERS_DEFAULTS, maxNewTokens: 1, minNewTokens: 0 };
  assert.deepEqual(Object.keys(all).sort(), OPTION_NAMES.filter((n) => n !== "prompt").sort());
  assert.equal(Object.isFrozen(TRANSFORMERS_DEFAULTS), true);
  assert.ok(OPTION_FIELDS.numBeams.fromModel);
});
