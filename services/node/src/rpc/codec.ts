/** Message validation lives with the overlay; the gRPC handlers use the same functions. */
export * from '../overlay/codec';
