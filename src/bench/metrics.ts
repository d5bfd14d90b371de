// Bench: score 5,000 synthetic captions with 5 references each (every metric, PTB tokenization)
// and print the time. Target: under 10 s on the 2-core project machine.
import { scoreCorpus, type ScoreItem } from "../metrics/index.js";

const SUBJECTS = ["a man", "a woman", "two dogs", "a cat", "a group of people", "a young girl", "an old bus", "a red car", "a giraffe", "the kids"];
const VERBS = ["riding", "sitting on", "standing next to", "walking along", "eating", "holding", "looking at", "playing with", "parked near", "running across"];
const OBJECTS = ["a horse", "a wooden bench", "the beach", "a plate of food", "a busy street", "a tall tree", "the snowy field", "a laptop", "a tennis racket", "the train station"];
const EXTRAS = ["", " on a sunny day", " in the park", ", smiling.", " at night", " near the water", " with a friend!", " (close-up)", " in the city's centre", " -- again"];

// A small linear congruential generator so every run scores the same corpus.
let seed = 12345;
const rand = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};
const caption = () => {
  const s = `${SUBJECTS[rand(10)]} ${VERBS[rand(10)]} ${OBJECTS[rand(10)]}${EXTRAS[rand(10)]}`;
  return rand(3) === 0 ? s[0].toUpperCase() + s.slice(1) : s;
};

const items: ScoreItem[] = Array.from({ length: 5000 }, (_, i) => ({
  id: String(i),
  prediction: caption(),
  references: Array.from({ length: 5 }, caption),
}));

const start = performance.now();
const scores = scoreCorpus(items);
const seconds = (performance.now() - start) / 1000;
console.log(`scored ${items.length} items x 5 references in ${seconds.toFixed(2)} s ` +
  `(CIDEr-D ${scores.coco.CIDEr.toFixed(4)}, METEOR ${scores.coco.METEOR.toFixed(4)}, WER ${scores.jiwer.wer.toFixed(4)})`);
if (seconds >= 10) {
  console.error("bench: slower than the 10 s target");
  process.exitCode = 1;
}
