// Recipes: a schema for lists of compression stages (JSON or YAML) and the runner that maps them onto the passes.
export * from './schema.js';
export * from './runner.js';
