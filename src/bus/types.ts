/**
 * Outcome events: one per finished object, for other systems to react to (a CMS publishing a post
 * when its photo is ready, a security team paged when an upload is quarantined). On AWS they go to
 * an EventBridge bus with source `imgpipe`; locally to a JSON-lines file. The detail is a public
 * format: image-event.schema.json describes it, and a test holds the events we build to it.
 */
export const EVENT_SOURCE = 'imgpipe';

export const DETAIL_TYPES = {
  processed: 'Image Processed',
  quarantined: 'Image Quarantined',
  failed: 'Image Failed',
  deleted: 'Image Deleted',
} as const;
export type EventStatus = keyof typeof DETAIL_TYPES;

export interface EventOutput {
  readonly variant: string;
  readonly format: string;
  readonly key: string;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  readonly bytes: number;
  /** As in the manifest: the format dimension limit that made the variant smaller, if one did. */
  readonly limit?: {
    readonly format: string;
    readonly maxSide?: number;
    readonly maxPixels?: number;
    readonly planned: { readonly width: number; readonly height: number };
  };
}

export interface ImageEventDetail {
  readonly version: 1;
  readonly status: EventStatus;
  readonly bucket: string;
  readonly key: string;
  readonly etag?: string;
  readonly versionId?: string;
  readonly sequencer?: string;
  /** processed: the source's format and displayed size, the manifest and every output. */
  readonly format?: string;
  readonly width?: number;
  readonly height?: number;
  readonly manifestKey?: string;
  readonly outputBucket?: string;
  readonly outputs?: readonly EventOutput[];
  /** quarantined: the reason and the message; failed: the message. */
  readonly reason?: string;
  readonly message?: string;
  readonly quarantineKey?: string;
  /** deleted: how many outputs (the manifest and on-demand results included) were deleted with the source. */
  readonly removedOutputs?: number;
  /** When the outcome was recorded (ISO 8601). */
  readonly time: string;
}

export interface ImageEvent {
  readonly detailType: (typeof DETAIL_TYPES)[EventStatus];
  readonly detail: ImageEventDetail;
}

export interface PublishResult {
  readonly sent: number;
  readonly failed: number;
  /** One line per event that could not be sent, after retries. */
  readonly errors: readonly string[];
  /**
   * Of `failed`, the events no retry can send (256 KB or more on their own), when there are any: a
   * record failed for them would fail on every retry and end in the dead letters.
   */
  readonly tooLarge?: number;
}

/** Sends a batch of events. Never throws for an event it could not send: it counts and reports it. */
export interface EventPublisher {
  publish(events: readonly ImageEvent[]): Promise<PublishResult>;
}

export function imageEvent(detail: ImageEventDetail): ImageEvent {
  return { detailType: DETAIL_TYPES[detail.status], detail };
}
