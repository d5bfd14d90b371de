// The loader table: config.json's `model_type` → the family that loads it. Adding a family is a
// folder under src/models/ and one row here.
import * as fs from "node:fs";
import * as path from "node:path";
import { blipBase, blipLarge } from "./blip/config.js";
import { BlipCaptionModel } from "./blip/load.js";
import { writeRandomBlip } from "./blip/random.js";
import { BlipTrainable } from "./blip/training.js";
import { blip2Opt27b } from "./blip2/config.js";
import { Blip2CaptionModel } from "./blip2/load.js";
import { writeRandomBlip2 } from "./blip2/random.js";
import type { CaptionModel, LoadModelOptions } from "./caption_model.js";
import type { TrainableModel } from "./trainable.js";

export type { CaptionModel, CheckpointGenerationConfig, ImageFeatures, LoadModelOptions } from "./caption_model.js";
export type { CaptionSpecialIds, SequenceLayout, SpecialIds, StepModel } from "./step_model.js";
export { PROMPT_IN_SEQUENCE } from "./step_model.js";
export { trainIo, type TrainableModel, type TrainDType, type TrainGraphOptions } from "./trainable.js";

interface Family {
  load(folder: string, opts: LoadModelOptions): Promise<CaptionModel>;
  /** The same checkpoint as graphs of one training step (loss and gradients); absent: not trainable yet. */
  loadTrainable?(folder: string): TrainableModel;
  /** Real checkpoints' shapes by name (`captioner bench --shape`): writes that shape with random weights. */
  randomShapes: Readonly<Record<string, (folder: string, seed: number) => void>>;
}

const FAMILIES: Readonly<Record<string, Family>> = {
  blip: {
    load: (folder, opts) => BlipCaptionModel.load(folder, opts),
    loadTrainable: (folder) => BlipTrainable.load(folder),
    randomShapes: {
      base: (folder, seed) => writeRandomBlip(folder, blipBase(), seed),
      large: (folder, seed) => writeRandomBlip(folder, blipLarge(), seed),
    },
  },
  "blip-2": {
    load: (folder, opts) => Blip2CaptionModel.load(folder, opts),
    randomShapes: {
      "blip2-opt-2.7b": (folder, seed) => writeRandomBlip2(folder, blip2Opt27b(), seed),
    },
  },
};

/** The `model_type`s whose checkpoints can be fine-tuned (their family builds training graphs). */
export const TRAINABLE_MODEL_TYPES: readonly string[] = Object.entries(FAMILIES).filter(([, f]) => f.loadTrainable).map(([type]) => type);

/** Every family's benchmark shapes: name → writer of a random checkpoint folder of that shape. */
export const RANDOM_SHAPES: Readonly<Record<string, (folder: string, seed: number) => void>> = (() => {
  const shapes: Record<string, (folder: string, seed: number) => void> = {};
  for (const [family, { randomShapes }] of Object.entries(FAMILIES)) {
    for (const [name, write] of Object.entries(randomShapes)) {
      // Shape names are `captioner bench --shape` values: one namespace across families.
      if (shapes[name]) throw new Error(`benchmark shape "${name}" of ${family} is already another family's; give it a distinct name`);
      shapes[name] = write;
    }
  }
  return shapes;
})();

/** A checkpoint folder whose config.json the loader table cannot serve. */
export class UnsupportedModelError extends Error {
  override name = "UnsupportedModelError";
}

/** Loads the checkpoint in `folder` with the family its config.json's `model_type` names. */
export async function loadCaptionModel(folder: string, opts: LoadModelOptions = {}): Promise<CaptionModel> {
  return familyOf(folder).load(folder, opts);
}

/** The checkpoint in `folder` as a TrainableModel of its family. */
export function loadTrainableModel(folder: string): TrainableModel {
  const type = modelType(folder);
  const family = familyOf(folder);
  if (!family.loadTrainable) throw new UnsupportedModelError(`${path.join(folder, "config.json")}: ${type} checkpoints cannot be fine-tuned yet; captioner trains ${TRAINABLE_MODEL_TYPES.join(", ")} checkpoints`);
  return family.loadTrainable(folder);
}

function familyOf(folder: string): Family {
  const type = modelType(folder);
  const family = FAMILIES[type];
  if (!family) throw new UnsupportedModelError(`${path.join(folder, "config.json")}: model_type "${type}" is not supported; captioner loads ${Object.keys(FAMILIES).join(", ")} checkpoints`);
  return family;
}

/**
 * config.json's `model_type`. A missing or unreadable file, or one without the key, goes to BLIP,
 * whose config parser reports precisely what is wrong with it.
 */
function modelType(folder: string): string {
  try {
    const json = JSON.parse(fs.readFileSync(path.join(folder, "config.json"), "utf8")) as { model_type?: unknown };
    if (typeof json.model_type === "string") return json.model_type;
  } catch {
    // reported by the family's loader
  }
  return "blip";
}
