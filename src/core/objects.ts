/**
 * One stored object, as every layer names it: the S3 event parser produces it, the handlers pass
 * it on, the pipeline reads it through storage. For a folder on disk (the CLI), `bucket` is the
 * folder.
 */
export interface ObjectRef {
  readonly bucket: string;
  readonly key: string;
  /** What the event said, unquoted; lets a duplicate delivery be skipped without reading the object. */
  readonly etag?: string;
  readonly size?: number;
  /** Read this version of a versioned object. */
  readonly versionId?: string;
}
