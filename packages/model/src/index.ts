// Public API of @gnet/model.
export {};
