import pkg from '../package.json' with { type: 'json' };

/** The package version, recorded in manifests and quarantine records. */
export const VERSION: string = pkg.version;
