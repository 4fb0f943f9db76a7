// The shared OpenAPI pieces live in the route kit (./kit): import from there. This re-export keeps older imports
// of the error envelope compiling.
export { ErrorResponse } from './kit';
