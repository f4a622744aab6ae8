// The e2e executable's entry point: the only e2e file that defines
// BOOST_TEST_MODULE. CTest runs each top-level suite as its own test
// (tests/CMakeLists.txt), so suites must not depend on each other.
#define BOOST_TEST_MODULE pympm_e2e
#include <boost/test/unit_test.hpp>
