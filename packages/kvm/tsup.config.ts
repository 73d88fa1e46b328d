import { hvsimPackage } from '../../tsup.preset.ts';

export default hvsimPackage({ entry: { index: 'src/index.ts' } });
