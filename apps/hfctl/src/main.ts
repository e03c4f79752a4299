/**
 * hfctl: an etcdctl for TypeScript people. The name is reserved here; the
 * commands arrive with their own issue. Until then this says so plainly.
 */
console.error('hfctl: not implemented yet; use etcdctl against Holdfast meanwhile (see README.md).');
process.exit(1);
