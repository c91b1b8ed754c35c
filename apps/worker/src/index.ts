// Public API of @gnet/worker.
export {};
