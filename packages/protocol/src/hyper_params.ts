// The hyperparameter and model schemas of `welcome` are declared once, in @gnet/recipe (the
// recipe's flags map onto them); the protocol re-exports them so its public API is unchanged.
export {
  AugmentationSchema,
  HyperParamsSchema,
  ModelConfigSchema,
  SeedSchema,
  type Augmentation,
  type HyperParams,
  type ModelConfig,
} from '@gnet/recipe';
