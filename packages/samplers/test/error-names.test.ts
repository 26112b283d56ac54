import { describeErrorNames } from '../../../scripts/test-support/error-names';
import * as api from '../src/index';

// a cancelled sampling run is a DOM-style AbortError
describeErrorNames(api, { atLeast: 4, aliases: { SamplingAbortedError: 'AbortError' } });
