// config.json's `model_type` → how that family trains (its gradient step and optimiser). Which
// families train is the loader table's knowledge (src/models/index.ts); all train on the engine.
import * as fs from "node:fs";
import * as path from "node:path";
import { TRAINABLE_MODEL_TYPES } from "../models/index.js";
import { engineTraining } from "./engine_backend.js";
import type { TrainingBackend } from "./step.js";
import { TrainingSetupError } from "./train.js";

export const TRAINING_BACKENDS: Readonly<Record<string, TrainingBackend>> = Object.fromEntries(TRAINABLE_MODEL_TYPES.map((type) => [type, engineTraining]));

/** The backend for the checkpoint in `folder`; errors name the model type and the ones that train. */
export function trainingBackendFor(folder: string, backends: Readonly<Record<string, TrainingBackend>> = TRAINING_BACKENDS): TrainingBackend {
  const file = path.join(folder, "config.json");
  let type: unknown;
  try {
    type = (JSON.parse(fs.readFileSync(file, "utf8")) as { model_type?: unknown }).model_type;
  } catch (error) {
    throw new TrainingSetupError(`cannot read ${file}: ${(error as Error).message}; --model must be a checkpoint folder or hub id`);
  }
  const backend = typeof type === "string" ? backends[type] : undefined;
  const known = Object.keys(backends);
  if (!backend) throw new TrainingSetupError(`${file}: model_type ${JSON.stringify(type)} cannot be trained yet; trainable: ${known.length ? known.join(", ") : "none in this build"}`);
  return backend;
}
