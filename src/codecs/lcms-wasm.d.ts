/** The part of lcms-wasm 1.0.5 (no types of its own) that codecs/colour.ts uses. */
declare module 'lcms-wasm' {
  /** The emscripten factory (MODULARIZE, EXPORT_NAME "instantiate"): resolves to the module. */
  export function instantiate(overrides?: Record<string, unknown>): Promise<unknown>;
}
