// The source that compiles a precompiled header (baims_pch, tests' baims_test_pch) for the targets
// that reuse it (cmake/BaimsModule.cmake).
