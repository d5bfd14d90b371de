// Greedy and beam search on a fake StepModel whose next-token logits are a fixed function of each
// row's whole history: the search is checked against exhaustive enumeration, so a wrong row reorder,
// a lost cache row or a mis-scored hypothesis shows up without loading any network.
import test from "node:test";
import assert from "node:assert/strict";
import { generate } from "../../src/generation/generate.js";
import type { StepModel } from "../../src/models/step_model.js";

// Outside the vocabulary, so a generated token is never mistaken for padding.
const PAD = 99;
const EOS = 1;
const V = 4;
const special = { eos: EOS, pad: PAD };

/** Logits of a history: a hash of the tokens, spread over [-3, 3); the same history always gives the same logits. */
function logitsOf(history: readonly number[], salt: number): Float32Array {
  let h = 2166136261 ^ salt;
  for (const t of history) h = Math.imul(h ^ (t + 7), 16777619) >>> 0;
  return Float32Array.from({ length: V }, (_, i) => {
    const x = Math.imul(h ^ (i * 2654435761), 2246822519) >>> 0;
    return ((x % 6000) / 1000) - 3;
  });
}

/** A StepModel that keeps each row's tokens as its "cache" and counts its calls. */
class HistoryModel implements StepModel {
  readonly vocabSize = V;
  readonly maxPositions = 64;
  histories: number[][];
  steps = 0;
  constructor(rows: number, private readonly salt = 0) {
    this.histories = Array.from({ length: rows }, () => []);
  }
  get rows(): number {
    return this.histories.length;
  }
  async forward(tokens: readonly (readonly number[])[]): Promise<{ logits: Float32Array; length: number }> {
    assert.equal(tokens.length, this.rows, "one token row per model row");
    const T = tokens[0]!.length;
    const out = new Float32Array(this.rows * T * V);
    tokens.forEach((row, r) => row.forEach((t, j) => {
      this.histories[r]!.push(t);
      out.set(logitsOf(this.histories[r]!, this.salt), (r * T + j) * V);
    }));
    this.steps++;
    return { logits: out, length: T };
  }
  async step(tokens: readonly (readonly number[])[]): Promise<Float32Array> {
    const { logits, length } = await this.forward(tokens);
    return Float32Array.from({ length: this.rows * V }, (_, i) => logits[(Math.floor(i / V) * length + length - 1) * V + (i % V)]!);
  }
  reorder(order: readonly number[]): void {
    this.histories = order.map((r) => [...this.histories[r]!]);
  }
}

function logSoftmax(x: Float32Array): number[] {
  const max = Math.max(...x);
  const lse = Math.log(Array.from(x).reduce((s, v) => s + Math.exp(v - max), 0)) + max;
  return Array.from(x, (v) => v - lse);
}

/** Every continuation of `prompt` that ends with EOS or reaches `maxNew` tokens, with its summed log-probability. */
function enumerate(prompt: number[], maxNew: number, salt: number): { ids: number[]; logprob: number; length: number }[] {
  const out: { ids: number[]; logprob: number; length: number }[] = [];
  const walk = (ids: number[], logprob: number) => {
    const lp = logSoftmax(logitsOf(ids, salt));
    for (let t = 0; t < V; t++) {
      const next = [...ids, t];
      const generated = next.length - prompt.length;
      if (t === EOS || generated === maxNew) out.push({ ids: next, logprob: logprob + lp[t]!, length: generated });
      else walk(next, logprob + lp[t]!);
    }
  };
  walk(prompt, 0);
  return out;
}

test("greedy search follows the argmax of each row's own history, stops on EOS and pads like transformers", async () => {
  const prompts = [[5], [6], [7]];
  const model = new HistoryModel(prompts.length, 11);
  const out = await generate(model, prompts, special, { maxNewTokens: 6 });
  const expected = prompts.map((p) => {
    const ids = [...p];
    while (ids.length < p.length + 6) {
      const l = logitsOf(ids, 11);
      const next = l.indexOf(Math.max(...l));
      ids.push(next);
      if (next === EOS) break;
    }
    return ids;
  });
  const width = Math.max(...expected.map((e) => e.length));
  assert.deepEqual(out.map((r) => r[0]!.ids), expected.map((e) => [...e, ...new Array(width - e.length).fill(PAD)]));
});

test("wide beam search with length_penalty 0 returns exactly the best sequences of an exhaustive search", async () => {
  for (const salt of [1, 2, 3, 4, 5]) {
    const maxNew = 3;
    const prompts = [[8], [9]];
    const model = new HistoryModel(prompts.length, salt);
    // 40 beams hold every prefix of this 4-token vocabulary for 3 steps: the search is exhaustive.
    const out = await generate(model, prompts, special, { maxNewTokens: maxNew, numBeams: 40, numReturnSequences: 5, lengthPenalty: 0, earlyStopping: false });
    prompts.forEach((prompt, b) => {
      const best = enumerate(prompt, maxNew, salt).sort((x, y) => y.logprob - x.logprob).slice(0, 5);
      const got = out[b]!;
      assert.deepEqual(got.map((s) => s.ids.slice(0, s.ids.length - s.ids.slice().reverse().findIndex((t) => t !== PAD))), best.map((s) => s.ids), `salt ${salt}, input ${b}`);
      got.forEach((s, i) => assert.ok(Math.abs(s.score! - best[i]!.logprob) < 1e-4, `score ${s.score} vs ${best[i]!.logprob}`));
    });
  }
});

test("beam scores are the returned sequence's log-probability over its length^length_penalty, best first", async () => {
  for (const [numBeams, lengthPenalty, earlyStopping] of [[2, 1, false], [3, 0.6, true], [4, 2, false]] as const) {
    const prompts = [[5], [6], [7], [8]];
    const model = new HistoryModel(prompts.length, numBeams);
    const out = await generate(model, prompts, special, { maxNewTokens: 8, numBeams, numReturnSequences: numBeams, lengthPenalty, earlyStopping });
    out.forEach((list, b) => {
      assert.equal(list.length, numBeams);
      for (let i = 1; i < list.length; i++) assert.ok(list[i - 1]!.score! >= list[i]!.score!, "sorted by score");
      assert.equal(new Set(list.map((s) => s.ids.join())).size, list.length, "distinct sequences");
      for (const s of list) {
        let ids = s.ids;
        while (ids.at(-1) === PAD) ids = ids.slice(0, -1);
        assert.deepEqual(ids.slice(0, prompts[b]!.length), prompts[b]);
        let logprob = 0;
        for (let j = prompts[b]!.length; j < ids.length; j++) logprob += logSoftmax(logitsOf(ids.slice(0, j), numBeams))[ids[j]!]!;
        const length = ids.length - prompts[b]!.length;
        assert.ok(Math.abs(s.score! - logprob / length ** lengthPenalty) < 1e-4, `beams ${numBeams}: score ${s.score} vs ${logprob / length ** lengthPenalty} for ${s.ids} (length ${length}, logprob ${logprob})`);
      }
    });
  }
});

test("one beam is greedy search", async () => {
  const prompts = [[5], [6]];
  const greedy = await generate(new HistoryModel(2, 9), prompts, special, { maxNewTokens: 7 });
  const beam = await generate(new HistoryModel(2, 9), prompts, special, { maxNewTokens: 7, numBeams: 1 });
  assert.deepEqual(beam, greedy);
});

// BLIP-2's layout (SequenceLayout): the prompt is fed to the model but is not part of the generated
// sequence, the output row is [bos, new tokens], and max_length reserves one more position.
const BOS = 2;
const blip2Special = { eos: EOS, pad: PAD, layout: { promptInSequence: false, outputStart: [BOS], maxLengthReserve: 1 } };

/** Greedy by hand: `prompt` fed, processors over the new tokens only (as transformers' language model sees them). */
function greedyByHand(prompt: number[], salt: number, o: { maxNew: number; stops?: number[]; penalty?: number; minNew?: number; penaliseFrom?: "new" | "all" }): number[] {
  const fresh: number[] = [];
  while (fresh.length < o.maxNew) {
    const l = logitsOf([...prompt, ...fresh], salt);
    const seen = o.penaliseFrom === "all" ? [...prompt, ...fresh] : fresh;
    if (o.penalty) for (const id of new Set(seen)) if (id < V) l[id] = l[id]! < 0 ? l[id]! * o.penalty : l[id]! / o.penalty;
    if (fresh.length < (o.minNew ?? 0)) for (const s of o.stops ?? [EOS]) l[s] = -Infinity;
    const next = l.indexOf(Math.max(...l));
    fresh.push(next);
    if ((o.stops ?? [EOS]).includes(next)) break;
  }
  return fresh;
}

test("BLIP-2 layout: [bos, new tokens] out, prompt fed but not returned, max_length 20 leaves 19 − prompt tokens", async () => {
  const never = { ...blip2Special, eos: 50 }; // outside the vocabulary: every row runs to max_length
  for (const prompt of [[3], [3, 0, 2, 1]]) {
    const out = await generate(new HistoryModel(1, 4), [prompt], never);
    const fresh = greedyByHand(prompt, 4, { maxNew: 19 - prompt.length, stops: [50] });
    assert.equal(fresh.length, 19 - prompt.length);
    assert.deepEqual(out[0]![0]!.ids, [BOS, ...fresh]);
    // max_new_tokens counts new tokens only; min_length counts the prompt.
    const capped = await generate(new HistoryModel(1, 4), [prompt], never, { maxNewTokens: 3 });
    assert.deepEqual(capped[0]![0]!.ids, [BOS, ...fresh.slice(0, 3)]);
  }
  for (const salt of [1, 2, 3, 5, 8]) {
    const prompt = [3, 0];
    const out = await generate(new HistoryModel(1, salt), [prompt], blip2Special, { minLength: 6 });
    assert.deepEqual(out[0]![0]!.ids, [BOS, ...greedyByHand(prompt, salt, { maxNew: 17, minNew: 4 })], `salt ${salt}`);
  }
});

test("BLIP-2 layout: the repetition penalty sees only the new tokens; a list of stop ids stops on any", async () => {
  let differs = 0;
  for (const salt of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const prompt = [0, 3, 3, 0];
    const out = await generate(new HistoryModel(1, salt), [prompt], blip2Special, { repetitionPenalty: 4 });
    const fresh = greedyByHand(prompt, salt, { maxNew: 15, penalty: 4 });
    assert.deepEqual(out[0]![0]!.ids, [BOS, ...fresh], `salt ${salt}`);
    if (fresh.join() !== greedyByHand(prompt, salt, { maxNew: 15, penalty: 4, penaliseFrom: "all" }).join()) differs++;
    const twoStops = await generate(new HistoryModel(1, salt), [prompt], { ...blip2Special, moreEos: [0] });
    assert.deepEqual(twoStops[0]![0]!.ids, [BOS, ...greedyByHand(prompt, salt, { maxNew: 15, stops: [EOS, 0] })], `salt ${salt}, stops 1 and 0`);
  }
  assert.ok(differs > 0, "some case tells penalising the prompt apart");
});

/** Always prefers EOS, then token 2: what a caption's length is comes only from the length options. */
class EosFirstModel implements StepModel {
  readonly vocabSize = V;
  readonly maxPositions = 64;
  rows = 1;
  async forward(tokens: readonly (readonly number[])[]): Promise<{ logits: Float32Array; length: number }> {
    const T = tokens[0]!.length;
    const logits = new Float32Array(tokens.length * T * V);
    for (let i = 0; i < tokens.length * T; i++) logits.set([0, 3, 2, 1], i * V);
    return { logits, length: T };
  }
  async step(tokens: readonly (readonly number[])[]): Promise<Float32Array> {
    return (await this.forward(tokens.map((t) => [t.at(-1)!]))).logits;
  }
  reorder(order: readonly number[]): void {
    this.rows = order.length;
  }
}

test("min_new_tokens replaces min_length when given, 0 included (transformers 4.40's _prepare_generated_length)", async () => {
  const run = async (options: Parameters<typeof generate>[3]) => (await generate(new EosFirstModel(), [[5]], special, options))[0]![0]!.ids;
  assert.deepEqual(await run({}), [5, EOS]);
  assert.deepEqual(await run({ minLength: 4 }), [5, 2, 2, 2, EOS], "min_length counts the prompt");
  assert.deepEqual(await run({ minLength: 8, minNewTokens: 1 }), [5, 2, EOS]);
  assert.deepEqual(await run({ minLength: 8, minNewTokens: 0 }), [5, EOS]);
  assert.deepEqual(await run({ minNewTokens: 3 }), [5, 2, 2, 2, EOS]);
  // Beam search reads the same resolved length.
  assert.deepEqual(await run({ minLength: 8, minNewTokens: 1, numBeams: 2 }), [5, 2, EOS]);
});
