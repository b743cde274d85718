// ESM entry: the CommonJS module's exports, as named exports and as the default export.
import corq from './index.js';

export default corq;
export const {
  open,
  version,
  libraryPath,
  codes,
  CorqError,
  AbortError,
  Engine,
  Producer,
  Consumer,
  Delivery,
  StreamProducer,
  StreamReader,
  StreamRecord,
  Transaction,
} = corq;
