// Caption-evaluation metrics exact to their reference implementations (see README "Metrics").
export { ptbTokenize, ptbTokens } from "./ptb_tokenizer.js";
export { bleu, bleuStats, type BleuResult, type BleuStats } from "./bleu.js";
export { rougeL, lcsLength } from "./rouge_l.js";
export { ciderD } from "./cider.js";
export { meteor, meteorStats, meteorScoreFromStats, addMeteorStats, formatMeteorStats, type MeteorStats } from "./meteor/scorer.js";
export { meteorTokens, meteorNormalize } from "./meteor/normalizer.js";
export { snowballStem } from "./snowball.js";
export { porterStem } from "./porter.js";
export { jiwerMeasures, jiwerWords, jiwerChars, editCounts, type JiwerItem, type JiwerCorpus } from "./jiwer.js";
export { rougeScore, rougeTokenize, ROUGE_TYPES, type RougeScore, type RougeType } from "./rouge_score.js";
export { cocoScores, COCO_METRICS, type CocoScores, type Tokenization } from "./coco.js";
export { scoreCorpus, type ScoreItem, type ScoreOptions, type CorpusScores, type ItemScores } from "./corpus.js";
export { readCases, validateCases, scoreCases, CASES_FORMAT, type CasesFile } from "./cases.js";
export { MetricsInputError, plainNormalize } from "./text.js";
