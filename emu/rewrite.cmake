# Rewrites one CUDA source (kernels/cuda/*.cu or *.cuh) into C++ for the CPU emulator (see emu/emu.h):
#   cmake -DSRC=<file> -DDST=<file> -P emu/rewrite.cmake
# - `k<<<cfg>>>(args)` -> `::emu::Launch(__FILE__, __LINE__, cfg)([](auto... emu_a) { k(emu_a...); }, args)`
#   (a generic lambda, so kernel templates deduce their arguments as in a real launch);
# - `extern __shared__ T name[];` -> `T* name = ::emu::dynamic_shared<T>();` (the launch's buffer);
# - `__shared__ T name[N];` (or `name[M][N]`) gets `::emu::shared_declare(name, sizeof(name));` after it (poisons it at block
#   start). Lines keep their numbers, and #line names the original file, so messages point at it.
file(READ "${SRC}" text)
set(id "[A-Za-z_][A-Za-z_0-9]*")
string(REGEX REPLACE "(${id}(<[^<>;]*>)?)<<<([^;]*)>>>\\("
       "::emu::Launch(__FILE__, __LINE__, \\3)([](auto... emu_a) { \\1(emu_a...); }, " text "${text}")
string(REGEX REPLACE "extern __shared__ ([A-Za-z_0-9 ]*[A-Za-z_0-9]) +(${id})\\[\\];"
       "\\1* \\2 = ::emu::dynamic_shared<\\1>();" text "${text}")
string(REGEX REPLACE "__shared__ ([^;]*[^A-Za-z_0-9])(${id})((\\[[^];]*\\])+);"
       "__shared__ \\1\\2\\3; ::emu::shared_declare(\\2, sizeof(\\2));" text "${text}")
if(text MATCHES "<<<|>>>\\(|extern __shared__")
  message(FATAL_ERROR "${SRC}: a kernel launch or shared declaration the emulator's rewrite does not handle")
endif()
set(out "#line 1 \"${SRC}\"\n${text}")
if(EXISTS "${DST}")
  file(READ "${DST}" old)
  if(old STREQUAL out)
    file(TOUCH_NOCREATE "${DST}")
    return()
  endif()
endif()
file(WRITE "${DST}" "${out}")
