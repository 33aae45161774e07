// Unstructured and N:M pruning: the API the CLI and recipes call.
export { PruneError, applyMasks, maskedWeight, maskTensor, maskBits, modelSparsity, prunableWeights } from './masks.js';
export type { LayerSparsity, MaskSet, PrunableWeight, SparsityReport } from './masks.js';
export { CRITERIA, accumulateGradients, magnitudeScores, randomScores, taylorScores } from './criteria.js';
export type { Criterion, GradientSums } from './criteria.js';
export { nmKeep, parseNM } from './nm.js';
export type { NM } from './nm.js';
export { checkSparsity, planLayers, pruneLowest, pruneUnstructured } from './unstructured.js';
export type { LayerOverride, LayerPruneReport, PruneOptions, PruneReport, PruneResult, PruneScope } from './unstructured.js';
export { agpSparsity, fineTuneMasked, pruneAgp, pruneIterative, pruneOneShot } from './schedules.js';
export type { AgpRecord, AgpSchedule, FineTuneOptions, IterativeOptions, RoundRecord } from './schedules.js';
export { layerSensitivity } from './sensitivity.js';
export type { SensitivityLayer, SensitivityReport } from './sensitivity.js';
export { allocateSparsities, sensitivityOverrides } from './allocate.js';
export type { AllocateOptions, Allocation, LayerAllocation, SensitivityAllocation } from './allocate.js';
export type { Measurement, SensitivityOptions } from './sensitivity.js';
export { batchNormScales, meanAbs, trainWithL1Penalty } from './regularized.js';
export type { PenaltyOptions } from './regularized.js';
export { cosineDropFraction, trainSparse } from './sparse-training.js';
export type {
  DynamicSparsity, DynamicSparsityKind, SparseLayerReport, SparseLayerUpdate, SparseTrainingOptions, SparseTrainingReport,
  SparseTrainingResult, SparseUpdateContext, SparseUpdateRecord,
} from './sparse-training.js';
export { DEFAULT_PENALTY, PRUNE_METHODS, STRUCTURED_METHODS, UNSTRUCTURED_METHODS, isStructured, prunePass } from './pass.js';
export type { PruneContext, PruneMethod, PrunePassResult, PrunePassSpec, PruneSchedule } from './pass.js';
export { trainModel } from './schedules.js';
