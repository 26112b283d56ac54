import { describeErrorNames } from '../../../scripts/test-support/error-names';
import * as api from '../src/index';

describeErrorNames(api, { atLeast: 4 });
