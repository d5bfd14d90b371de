// BLIP captioning as a TrainableModel: the text decoder over whole teacher-forced captions (a
// padding + causal mask, cross-attention to the image tokens) → the loss, in one graph of plain ops
// whose gradients autodiff derives. With the vision tower frozen its features are an input.
import * as fs from "node:fs";
import * as path from "node:path";
import { openCheckpoint } from "../../engine/checkpoint/index.js";
import { outputLossAndGradients } from "../../engine/autodiff.js";
import { Graph, type Param } from "../../engine/graph.js";
import { Weights } from "../../engine/weights.js";
import { captionLoss } from "../caption_loss.js";
import { type TrainableModel, type TrainDType, type TrainGraphOptions, trainIo } from "../trainable.js";
import { loadBlipConfig } from "./config.js";
import { BlipForConditionalGeneration } from "./model.js";

export class BlipTrainable implements TrainableModel {
  constructor(
    readonly model: BlipForConditionalGeneration,
    private readonly vb: Weights,
    readonly weightsFolder?: string,
  ) {}

  /**
   * The checkpoint in `folder`, each tensor read when used: the trainable ones into the values
   * training feeds, the frozen ones by onnxruntime from the file itself (for BLIP-base frozen
   * vision, the checkpoint's 1 GB is never resident as a whole).
   */
  static load(folder: string): BlipTrainable {
    const checkpoint = openCheckpoint(folder, { maxInMemoryBytes: 0 });
    const vb = Weights.of(checkpoint);
    // onnxruntime resolves symlinks and wants external data under one folder: the weights' real one.
    const weightsFolder = path.dirname(fs.realpathSync(checkpoint.files[0]!));
    return new BlipTrainable(new BlipForConditionalGeneration(loadBlipConfig(folder), vb), vb, weightsFolder);
  }

  get imageSize(): number {
    return this.model.cfg.vision.imageSize;
  }

  trainingGraph(opts: TrainGraphOptions): Graph {
    const { model } = this;
    const dtype = opts.dtype ?? "float32";
    const trainable = opts.trainable ?? (() => true);
    const g = new Graph(opts.trainVision ? "blip_train_full" : "blip_train_decoder", { fused: false, quantize: "none" }, { dtype, trainable: (p: Param) => trainable(p.name) });
    const { imageSize, hiddenSize: visionHidden } = model.cfg.vision;
    const imageEmbeds = opts.trainVision
      ? model.visionModel.forward(g.input(trainIo.pixelValues, dtype, ["batch", 3, imageSize, imageSize]))
      : g.input(trainIo.imageEmbeds, dtype, ["batch", "image_tokens", visionHidden]);
    const { logits } = model.textDecoder.forward({
      inputIds: g.input(trainIo.inputIds, "int64", ["batch", "seq"]),
      positionIds: g.input(trainIo.positionIds, "int64", ["batch", "seq"]),
      mask: g.input(trainIo.mask, dtype, ["batch", 1, "seq", "seq"]),
      image: model.textDecoder.projectImage(imageEmbeds),
    });
    outputLossAndGradients(captionLoss(logits, g.input(trainIo.labels, "int64", ["batch", "seq"]), opts.labelSmoothing));
    return g;
  }

  imageFeaturesGraph(dtype: TrainDType): Graph {
    const { imageSize } = this.model.cfg.vision;
    const g = new Graph("blip_image_features", { fused: false, quantize: "none" }, { dtype });
    g.output(this.model.visionModel.forward(g.input(trainIo.pixelValues, dtype, ["batch", 3, imageSize, imageSize])), trainIo.imageEmbeds);
    return g;
  }

  weights(): ReadonlyMap<string, Param> {
    return this.vb.params();
  }
}
