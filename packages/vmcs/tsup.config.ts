import { hvsimPackage } from '../../tsup.preset';

export default hvsimPackage({ entry: { index: 'src/index.ts' } });
