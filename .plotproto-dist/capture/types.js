/** Shared types of the capture layer: what the streaming reader hands to its consumers. */
export {};
//# sourceMappingURL=types.js.map