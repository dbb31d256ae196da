// RUN: qopt-opt %s -split-input-file -verify-diagnostics -qopt-instrument-calibration
// RUN: not qopt-opt %s -split-input-file -qopt-instrument-calibration=layer=-3 2>&1 | FileCheck %s --check-prefix=LAYER

// LAYER: error: qopt-instrument-calibration: layer must be -1 (classifier), a layer index, or left out, got -3

// expected-error @+1 {{the module is already instrumented}}
module attributes {qopt.observe_sites = []} {
}
