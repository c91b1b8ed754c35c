// Public API of @gnet/recipe: the training recipe declared once, the wire HyperParams, and the
// config helpers every command shares. No TF.js, no network: both apps import it.
export { commanderFailure, ConfigError, HelpShown } from './config_error.js';
export { BACKEND_CHOICES, DEFAULT_MAX_SKIPPED_STEPS, LOG_LEVELS, VAL_PER_CLASS } from './constants.js';
export { HostSchema } from './host.js';
export { checkTlsFiles } from './tls_files.js';
export { addSettings, parseSettings, readSettings, setting, shapeOf, validateSettings } from './setting.js';
export { HYPER_SETTINGS, RECIPE, RUN_SETTINGS } from './recipe.js';
export { parseRecipeCommand } from './recipe_command.js';
export { HyperParamsSchema, ModelConfigSchema, SeedSchema, type Augmentation, type HyperParams, type ModelConfig } from './hyper_params.js';
export { checkRecipe, DEFAULT_HYPER_PARAMS, hyperParamsOf, modelConfigOf, withRecipeRules } from './hyper_params_of.js';
