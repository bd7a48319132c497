/** Identity limits off: benchmarks and the soak measure streaming, not quotas (bench/identity-overhead.js measures those). */
export const NO_LIMITS = { requestsPerMinute: null, responsesPerDay: null, maxModels: null, extendedPerDay: null, tokensPerDay: null };
