export { buildApp, type App, type AppOptions } from './app.js';
export { loadConfig, ConfigError } from './config/load.js';
export type { Config, ConfigInput } from './config/schema.js';
export { ERROR_CATALOGUE, TributaryError, type ErrorCode } from './errors.js';
export type { Provider, ModelInfo, GenerationRequest, GenerationChunk } from './llm/provider.js';
