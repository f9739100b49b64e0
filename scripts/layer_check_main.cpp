// The program each layer is linked into, whole, with only the layers it may use (CMakeLists.txt,
// ssmtl_layer_check_<layer>): every object of the layer is kept, so a call into a layer above it is an
// undefined reference and the build fails.
int main() { return 0; }
