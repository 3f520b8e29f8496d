import pkg from '../../package.json' with { type: 'json' };

/**
 * Facts about the process the code runs in: the package version, whether it runs from the bundle,
 * and the environment the container image gives it.
 */

/** The package version, recorded in manifests and quarantine records. */
export const VERSION: string = pkg.version;

/** Set by the bundler (scripts/build.ts): the bundle finds its .wasm files and worker beside itself. */
declare const __IMGPIPE_BUNDLED__: boolean | undefined;
export const BUNDLED = typeof __IMGPIPE_BUNDLED__ !== 'undefined' && __IMGPIPE_BUNDLED__;

/**
 * Environment the function's container image sets for its Node process (Dockerfile `ENV`; a test
 * keeps the two equal). These are read by glibc when the process starts, so JavaScript cannot set
 * them; the memory sweep's children and the runtime test get them too, to run as the function does.
 *
 * MALLOC_MMAP_THRESHOLD_: glibc serves allocations above this size with their own mmap, returned to
 * the system on free. Without it the threshold adapts upwards (to 32 MiB) after the first large
 * free, so pixel buffers of a few MiB (what a decoded image, a resize result or an encoder
 * thread's copy is made of) come from malloc arenas, where freed space fragments and stays
 * resident. Measured on J1 (bench/): peak RSS 308 -> 264 MiB on one thread, and with two encoder
 * threads over 15 images 546 -> 433 MiB, at no measurable cost in time.
 */
export const IMAGE_ENV = { MALLOC_MMAP_THRESHOLD_: '131072' } as const;
