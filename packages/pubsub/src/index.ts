// @holdfast/pubsub: ordered pub-sub over the etcd v3 API: topics, durable
// cursors, consumer groups, retention, bounded buffers. See README.md for the
// key layout and the delivery semantics.

export { PubSub, defaultPrefix, defaultMaxMessagesPerTxn } from './pubsub.js';
export type { PubSubOptions, PublishOptions, TopicInfo } from './pubsub.js';
export type { Published } from './publisher.js';
export { Subscription, sequenceAtRevision, defaultHighWaterMark, defaultPageSize } from './subscription.js';
export type { SubscribeOptions, StartPosition, SubscriptionStats } from './subscription.js';
export { GroupMember, GroupMessage, defaultClaimSize, defaultMemberTtlSeconds } from './group.js';
export type { JoinOptions, GroupStats } from './group.js';
export { Message, encodeEnvelope, decodeEnvelope } from './message.js';
export type { OutgoingMessage, Payload, DecodedEnvelope } from './message.js';
export { trimTopic } from './retention.js';
export type { RetentionPolicy, TrimResult } from './retention.js';
export { TopicKeys, GroupKeys, cursorKey, encodeSequence, firstSequence } from './keys.js';
export { PubSubError, PublishOutcomeUnknownError, PartialPublishError, MembershipLostError } from './errors.js';
