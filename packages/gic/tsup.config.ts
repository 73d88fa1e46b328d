import { hvsimPackage } from '../../tsup.preset';

export default hvsimPackage({ entry: { index: 'src/index.ts', v2: 'src/v2/index.ts', v3: 'src/v3/index.ts', its: 'src/its/index.ts', timer: 'src/timer/index.ts' } });
