// Public API of @gnet/recipe: the training recipe declared once, the wire HyperParams, and the
// config helpers every command shares. No TF.js, no network: both apps import it.
export { commanderFailure, ConfigError, HelpShown } from './config_error.js';
export { BACKEND_CHOICES, DEFAULT_MAX_SKIPPED_STEPS, LOG_LEVELS, VAL_PER_CLASS } from './constants.js';
export { HostSchema } from './host.js';
export { checkTlsFiles, type TlsFiles, type TlsReaders } from './tls_files.js';
export { parseNumber } from './parse_number.js';
export {
  addSettings,
  defaultOf,
  flagOf,
  parseSettings,
  readSettings,
  setting,
  shapeOf,
  timeStamp,
  validateSettings,
  type CommandName,
  type CommandOverride,
  type CommandSpec,
  type DefaultContext,
  type DefaultValue,
  type Setting,
  type Settings,
  type ShapeOf,
} from './setting.js';
export { HYPER_SETTINGS, RECIPE, RUN_SETTINGS } from './recipe.js';
export { parseRecipeCommand, type CommandInput, type RecipeCommandSpec } from './recipe_command.js';
export {
  AugmentationSchema,
  HyperParamsSchema,
  ModelConfigSchema,
  SeedSchema,
  type Augmentation,
  type HyperParams,
  type ModelConfig,
} from './hyper_params.js';
export {
  checkRecipe,
  DEFAULT_HYPER_PARAMS,
  DEFAULT_HYPER_SETTINGS,
  hyperParamsOf,
  HyperSettingsSchema,
  modelConfigOf,
  withRecipeRules,
  type HyperSettings,
} from './hyper_params_of.js';
