// Knowledge distillation: teachers (one model or an ensemble) and the distill pass the CLI and recipes call.
export { DistillError, Teacher, argmaxRows, ensembleLogits, outputClasses, tensorNames, withExtraOutputs } from './teacher.js';
export type { TeacherOptions, TeacherOutputs } from './teacher.js';
export { DEFAULT_ALPHA, DEFAULT_TEMPERATURE, distill, hintInputName, prepareDistillation } from './distill.js';
export type { DistillOptions, DistillReport, DistillationSetup, HintPair } from './distill.js';
