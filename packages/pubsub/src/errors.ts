/** Errors of the pub-sub layer (the client's EtcdError classes pass through unchanged). */

export class PubSubError extends Error {
  override name = 'PubSubError';
}

/**
 * A publish txn failed in a way that may or may not have stored the
 * messages, and the server could not be asked which before the publish
 * timeout. Reading the topic later tells (the messages carry `ids`).
 */
export class PublishOutcomeUnknownError extends PubSubError {
  override name = 'PublishOutcomeUnknownError';
  constructor(
    readonly topic: string,
    options: { cause?: unknown } = {},
  ) {
    super(`publishing to "${topic}": the outcome is unknown (the server could not be asked in time)`, options);
  }
}

/** publishBatch() failed part-way: the first `published` messages were stored, the rest were not. */
export class PartialPublishError extends PubSubError {
  override name = 'PartialPublishError';
  constructor(
    readonly topic: string,
    readonly published: ReadonlyArray<{ readonly seq: bigint; readonly revision: bigint; readonly id: string }>,
    options: { cause?: unknown } = {},
  ) {
    super(`publishing to "${topic}": ${published.length} messages were stored before a failure`, options);
  }
}

/** The group member's session was lost; it rejoins under a new member id (its claims go to others). */
export class MembershipLostError extends PubSubError {
  override name = 'MembershipLostError';
}
