import { DetectModerationLabelsCommand, RekognitionClient } from '@aws-sdk/client-rekognition';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { RekognitionModerator } from '../../../src/moderation/rekognition.ts';

/**
 * Which labels reject an image. Rekognition has no local server: its client is mocked
 * (aws-sdk-client-mock), answering as DetectModerationLabels does.
 */
describe('RekognitionModerator', () => {
  const labels = [
    { Name: 'Explicit', ParentName: '', TaxonomyLevel: 1, Confidence: 97.3 },
    { Name: 'Explicit Nudity', ParentName: 'Explicit', TaxonomyLevel: 2, Confidence: 96.1 },
    { Name: 'Swimwear or Underwear', ParentName: '', TaxonomyLevel: 1, Confidence: 91 },
  ];

  function moderator(categories: string[]) {
    const client = new RekognitionClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    mockClient(client).on(DetectModerationLabelsCommand).resolves({ ModerationLabels: labels });
    return new RekognitionModerator(client, { minConfidence: 80, categories });
  }

  it('flags the labels of the configured categories, at any level, whatever their letter case', async () => {
    // Rekognition's own names are not consistently capitalised ("Swimwear or Underwear",
    // "Explicit Nudity"): a category written in another case must not turn moderation off.
    const result = await moderator(['explicit nudity', 'SWIMWEAR OR UNDERWEAR']).moderate(new Uint8Array(1));
    expect(result.flagged.map((label) => label.name)).toEqual(['Explicit Nudity', 'Swimwear or Underwear']);
    expect((await moderator(['explicit']).moderate(new Uint8Array(1))).flagged.map((l) => l.name)).toEqual([
      'Explicit',
      'Explicit Nudity',
    ]);
    expect((await moderator(['Violence']).moderate(new Uint8Array(1))).flagged).toEqual([]);
  });
});
