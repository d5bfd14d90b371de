// Element types, shared by the checkpoint readers and the graph builder.

/** Element types a tensor can have. */
export type DType = "float32" | "float16" | "bfloat16" | "float64" | "int64" | "int32" | "int8" | "uint8" | "bool";

/** Bytes per element of each DType. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = Object.freeze({
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1,
});

/** ONNX `TensorProto.DataType` codes. */
export const ONNX_DTYPE: Readonly<Record<DType, number>> = Object.freeze({
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
});
