// captioner as a library: load any supported checkpoint folder and caption images; score captions;
// evaluate a model on a dataset. The CLI and the server are built on exactly these; the server
// itself is `captioner/server` (kept apart so that the library does not load Fastify, SQLite, BullMQ).
//
//   import { Captioner } from "captioner";
//   const captioner = await Captioner.load("/path/to/blip-image-captioning-base");
//   const [[best]] = await captioner.caption([await fs.readFile("photo.jpg")], { numBeams: 3 });
//   console.log(best.text);
//   await captioner.release();
export { Captioner, type Caption, type CaptionOptions, type LoadCaptionerOptions } from "./generation/captioner.js";
export { generate, GenerationOptionsError, type GenerationDefaults, type GenerationOptions, type Sequence } from "./generation/generate.js";
export { loadCaptionModel, UnsupportedModelError, RANDOM_SHAPES, type CaptionModel, type CaptionSpecialIds, type ImageFeatures, type LoadModelOptions, type StepModel } from "./models/index.js";
export { decodeImage, ImageDecodeError, type DecodeLimits, type RgbImage } from "./preprocess/image.js";
export { loadTokenizer, type Tokenizer } from "./preprocess/tokenizers.js";
export { openDataset, readSplit, DatasetError, type DatasetItem, type DatasetSplit } from "./datasets/imagefolder.js";
export { scoreCorpus, type CorpusScores, type ItemScores, type ScoreItem } from "./metrics/index.js";
export { evaluate, type EvaluateOptions, type EvaluationResult } from "./eval/evaluate.js";
export { ensureModelFolder, downloadModel } from "./hub/index.js";
export { decodeImageRgba, type RgbaImage } from "./preprocess/rgba.js";
export { exifTransposed, orient } from "./preprocess/orientation.js";
export { enrich, enrichAndDescribe, colorsOf, tagsOf, Restyler, parseLlmConfig, describeImage, parseFeatures, type Feature, type ImageColors, type Tag, type Description } from "./enrich/index.js";
export { describeFiles, describeFolder, type FolderOptions, type FolderSummary, type ImageDescription } from "./enrich/describe.js";
