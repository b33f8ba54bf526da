/**
 * @tt/distill: knowledge distillation from the main ranker's logged scores (MODEL.md section 5),
 * on top of `@tt/light-ranker`:
 * `fitTwoTower(dataset, { stages: [lightRanker, distill], model: { stages: [{ name: 'light-ranker' }, { name: 'distill' }] } })`.
 *
 * @packageDocumentation
 */
export {
  distill, Distill, resolveDistillOptions, softLabelBce, DISTILL_DEFAULTS,
  type DistillOptions, type ResolvedDistillOptions,
} from './stage.js';
export { teacherAgreement, type TeacherAgreement } from './agreement.js';
