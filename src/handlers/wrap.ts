import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context } from 'aws-lambda';

export type LambdaHandler<R> = (event: unknown, context?: Context) => Promise<R>;

/**
 * Wraps an entry point (after Powertools' `injectLambdaContext`, `logMetrics` and
 * `captureLambdaHandler` middleware): the invocation's context on every log line, the cold-start
 * metric and annotation, an X-Ray subsegment for the invocation with the error as metadata, and the
 * metrics flushed as one EMF line however the invocation ends. A new entry point is its own logic
 * and this.
 */
export function lambdaHandler<R>(
  deps: { readonly logger: Logger; readonly metrics: Metrics; readonly tracer?: Tracer },
  run: LambdaHandler<R>,
): LambdaHandler<R> {
  const { logger, metrics, tracer } = deps;
  return async (event, context) => {
    if (context) logger.addContext(context);
    metrics.captureColdStartMetric();
    const segment = tracer?.isTracingEnabled() ? tracer.getSegment() : undefined;
    const subsegment = segment?.addNewSubsegment(`## ${process.env._HANDLER ?? 'handler'}`);
    if (tracer && subsegment) {
      tracer.setSegment(subsegment);
      tracer.annotateColdStart();
      tracer.addServiceNameAnnotation();
    }
    try {
      return await run(event, context);
    } catch (error) {
      if (subsegment) tracer?.addErrorAsMetadata(error as Error);
      throw error;
    } finally {
      if (tracer && segment && subsegment) {
        subsegment.close();
        tracer.setSegment(segment);
      }
      metrics.publishStoredMetrics();
    }
  };
}
