// RUN: qopt-opt %s -qopt-slice-weights="bits=4" | FileCheck %s
// RUN: qopt-opt %s -qopt-slice-weights="bits=2 layers=k" | FileCheck %s --check-prefix=K
// RUN: qopt-opt %s -qopt-slice-weights="bits=4 layers=embedding" | FileCheck %s --check-prefix=EMB
// RUN: qopt-opt %s -qopt-slice-weights="bits=8" | FileCheck %s --check-prefix=NOOP
// RUN: qopt-opt %s --pass-pipeline="builtin.module(qopt-quantize-weights{bits=8 layout=nested layers=q,embedding},qopt-slice-weights{bits=3 layers=q,embedding},canonicalize)" | FileCheck %s --check-prefix=PIPE

// The slice goes between the qtensor and the dequantize of each selected
// linear; a dequantize shared with an unselected op is duplicated; weights
// already at the width or narrower, float weights and unselected roles are
// left alone.
// CHECK-LABEL: func.func @slices
// CHECK-SAME:    (%[[X:.*]]: tensor<?x32xf32>, %[[Q8:.*]]: !qopt.qtensor<32x32xf32, bits = 8, group = 32, asym, layout = nested>, %[[Q4:.*]]: !qopt.qtensor<32x32xf32, bits = 4, group = 32, sym>, %[[T:.*]]: !qopt.qtensor<16x32xf32, bits = 8, group = 32, asym>
// CHECK:         %[[S:.*]] = qopt.slice %[[Q8]] to 4 : !qopt.qtensor<32x32xf32, bits = 8, group = 32, asym, layout = nested>
// CHECK:         %[[D:.*]] = qopt.dequantize %[[S]] : !qopt.qtensor<32x32xf32, bits = 4, parent = 8, group = 32, asym, layout = nested>
// CHECK:         %[[Y:.*]] = qopt.linear %[[X]], %[[D]] {qopt.layer = 0 : i64, qopt.role = "q"}
// CHECK:         %[[D4:.*]] = qopt.dequantize %[[Q4]] : !qopt.qtensor<32x32xf32, bits = 4, group = 32, sym>
// CHECK:         qopt.linear %[[Y]], %[[D4]] {qopt.layer = 0 : i64, qopt.role = "k"}
// CHECK:         %[[DS:.*]] = qopt.dequantize %[[Q8]] : !qopt.qtensor<32x32xf32, bits = 8, group = 32, asym, layout = nested>
// CHECK:         %[[S2:.*]] = qopt.slice %[[Q8]] to 4
// CHECK:         %[[D2:.*]] = qopt.dequantize %[[S2]]
// CHECK:         qopt.linear %{{.*}}, %[[D2]] {qopt.layer = 0 : i64, qopt.role = "v"}
// CHECK:         qopt.linear %{{.*}}, %[[DS]] {qopt.role = "classifier"}
// CHECK:         qopt.embedding %[[T]], %{{.*}} {qopt.role = "embedding"}
//
// A quantized embedding table is sliced where the embedding reads it.
// EMB-LABEL:     func.func @slices
// EMB-SAME:      %[[T:[^:]*]]: !qopt.qtensor<16x32xf32, bits = 8, group = 32, asym>
// EMB:           %[[ST:.*]] = qopt.slice %[[T]] to 4
// EMB:           qopt.embedding %[[ST]], %{{.*}} {qopt.role = "embedding"} : !qopt.qtensor<16x32xf32, bits = 4, parent = 8, group = 32, asym>
// EMB-NOT:       qopt.slice
//
// K-LABEL:       func.func @slices
// K-SAME:        %[[Q8:[^:]*]]: !qopt.qtensor<32x32xf32, bits = 8, group = 32, asym, layout = nested>, %[[Q4:[^:]*]]: !qopt.qtensor<32x32xf32, bits = 4, group = 32, sym>
// K:             %[[D:.*]] = qopt.dequantize %[[Q8]] : !qopt.qtensor<32x32xf32, bits = 8, group = 32, asym, layout = nested>
// K:             qopt.linear {{.*}}, %[[D]] {qopt.layer = 0 : i64, qopt.role = "q"}
// K:             %[[S:.*]] = qopt.slice %[[Q4]] to 2 : !qopt.qtensor<32x32xf32, bits = 4, group = 32, sym>
// K:             %[[D4:.*]] = qopt.dequantize %[[S]] : !qopt.qtensor<32x32xf32, bits = 2, parent = 4, group = 32, sym>
// K:             qopt.linear {{.*}}, %[[D4]] {qopt.layer = 0 : i64, qopt.role = "k"}
// K-NOT:         qopt.slice
//
// NOOP-NOT:      qopt.slice
func.func @slices(%x: tensor<?x32xf32>,
                  %q8: !qopt.qtensor<32x32xf32, bits = 8, group = 32, asym, layout = nested>,
                  %q4: !qopt.qtensor<32x32xf32, bits = 4, group = 32, sym>,
                  %table: !qopt.qtensor<16x32xf32, bits = 8, group = 32, asym>,
                  %tok: tensor<?xi32>) -> (tensor<?x32xf32>, tensor<?x32xf32>) {
  %d = qopt.dequantize %q8 : !qopt.qtensor<32x32xf32, bits = 8, group = 32, asym, layout = nested> -> tensor<32x32xf32>
  %y = qopt.linear %x, %d {qopt.layer = 0 : i64, qopt.role = "q"} : tensor<?x32xf32>, tensor<32x32xf32> -> tensor<?x32xf32>
  %d4 = qopt.dequantize %q4 : !qopt.qtensor<32x32xf32, bits = 4, group = 32, sym> -> tensor<32x32xf32>
  %k = qopt.linear %y, %d4 {qopt.layer = 0 : i64, qopt.role = "k"} : tensor<?x32xf32>, tensor<32x32xf32> -> tensor<?x32xf32>
  %ds = qopt.dequantize %q8 : !qopt.qtensor<32x32xf32, bits = 8, group = 32, asym, layout = nested> -> tensor<32x32xf32>
  %v = qopt.linear %k, %ds {qopt.layer = 0 : i64, qopt.role = "v"} : tensor<?x32xf32>, tensor<32x32xf32> -> tensor<?x32xf32>
  %c = qopt.linear %v, %ds {qopt.role = "classifier"} : tensor<?x32xf32>, tensor<32x32xf32> -> tensor<?x32xf32>
  %e = qopt.embedding %table, %tok {qopt.role = "embedding"} : !qopt.qtensor<16x32xf32, bits = 8, group = 32, asym>, tensor<?xi32> -> tensor<?x32xf32>
  %w = arith.constant dense<1.0> : tensor<32x32xf32>
  %f = qopt.linear %e, %w {qopt.layer = 0 : i64, qopt.role = "o"} : tensor<?x32xf32>, tensor<32x32xf32> -> tensor<?x32xf32>
  return %c, %f : tensor<?x32xf32>, tensor<?x32xf32>
}

// Quantize nested, slice to 3, canonicalize: the nested slice stays a
// slice of the int8 planes, the weights stay quantized.
// PIPE-LABEL: func.func @pipeline
// PIPE:       %[[P:.*]] = qopt.pack {{.*}} : tensor<8x16x4xi8>, tensor<16x1xf32>, tensor<16x1xf32> -> !qopt.qtensor<16x32xf32, bits = 8, group = 32, asym, layout = nested>
// PIPE:       %[[S:.*]] = qopt.slice %[[P]] to 3
// PIPE:       %[[D:.*]] = qopt.dequantize %[[S]] : !qopt.qtensor<16x32xf32, bits = 3, parent = 8, group = 32, asym, layout = nested>
// PIPE:       qopt.embedding %[[D]]
// PIPE:       %[[S2:.*]] = qopt.slice %[[P]] to 3
// PIPE:       %[[D2:.*]] = qopt.dequantize %[[S2]]
// PIPE:       qopt.linear %{{.*}}, %[[D2]] {qopt.role = "q"}
func.func @pipeline(%tok: tensor<?xi32>) -> tensor<?x16xf32> {
  %w = arith.constant dense_resource<tied> : tensor<16x32xf32>
  %e = qopt.embedding %w, %tok {qopt.role = "embedding"} : tensor<16x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %y = qopt.linear %e, %w {qopt.role = "q"} : tensor<?x32xf32>, tensor<16x32xf32> -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

{-#
  dialect_resources: {
    builtin: {
      tied: "0x040000006DE77B3ED9CEF73E3D0A173F5C8F623F8FC2F53EEC51583FE92671BFDF4F8DBD6F12633F7593983EDF4F4D3FDD2446BFB6F37DBDC1CA01BF5839B43D508D173E105879BFE92611BFC1CAE1BE7D3F553F9EEF073F04562EBF6210183FFED438BFD7A3703E643B3FBFDBF97EBF3F353E3F6ABC14BFFCA911BF3D0A773F52B83E3F508DD7BEBA496C3F77BE9F3DA245B63E3D0A17BFC1CA613F6F12C33E17D96E3FD578493FF2D2CDBE04568EBE0C022BBF068135BF52B85EBF9643CBBEAAF1523E3F357EBFA245B63E54E3A5BE5C8FC2BE6F12233F77BE1FBD7F6ABCBEE3A51BBD7368D13EE5D062BF3333733F583974BF0000003FD7A3303FB4C876BF3333133F4C3789BE9CC4203E5A647BBF273168BFF85323BFC3F5683F5A641BBFE5D0023F6DE75B3FD34D623F643B9FBEE17A94BE39B4483D560E0D3F39B448BFC976FE3E6210183F6210383FDF4F6DBF1D5A643F736851BFF853A3BEF853633E1904563F0AD7A3BE8716593FEC51B83D0000C0BE5A64BBBEB81E25BF621058BF46B633BF3789C13E3F357E3FDF4F2DBF022B67BF8716793F4C37893D128340BE666606BF1283403E022B273FA245B6BD77BE1FBE819563BFF4FD543F295C6FBFF4FD54BCDF4F2D3F1B2F3DBF560EED3E6666663FCBA1853EBC74133FD57849BFDD2406BE46B633BF4E62303F85EBD1BE1283C0BD77BE7F3FE17A343F46B6733FC976BEBDA69BC4BC0C02EB3E31082CBD1904D6BEA69B44BEF4FD34BF6DE77BBEAC1C7A3F1F856B3F4A0C823E6F1283BA4260A5BE986E52BFC3F5E8BE4E62103FF6283C3FF2D28DBE986E123FCDCC0C3F022BC73E9EEFA73E2FDD043FA8C68BBE7368D13E8941E0BE6891EDBCE7FB093F8195C33EAAF1D2BE9318643F8716993E2FDD243EAC1C7ABF1283C03DEE7CFFBEB29DAF3E508D97BD4A0C223F3D0A973EEC51183FE3A59BBEBC74933E46B6F33E9EEF273F9A9999BEB29D2F3FA4703D3F2506C13E46B6733F5EBA693FBC74133DFCA9713D0C022BBFBA492C3F0000603F7F6A3CBD9318C43E9CC4E03E3108EC3E9EEF27BFB29D0F3F54E3253ED578A93EC1CA21BE91ED7C3E448B0C3FBA498C3EC1CAE13E85EB71BF7B142EBFFCA9F1BD9A99993E3BDF0FBFC976BE3EDD24863EFA7E6ABFD57869BDBA490CBF1D5A64BFE3A53BBF48E1BABE6F1223BF91ED1CBFF2D26DBFDF4F8DBD6ABC74BE4260653EEC51383EDD2406BF04564E3F77BE7FBF378941BEE5D0E2BEEC5138BEB81E45BF5EBA293F250681BE68916DBFB072683E295C4FBFEC51B83D1D5AA4BE54E3253E83C06A3F6F12233F54E325BE8941203F85EB913ECBA185BEC74B37BFA69B443E6F12033EE7FB693FB29D6F3F3F355E3E759398BED578493FEE7C7FBF39B448BF022B073E1F856B3E621038BFA69B843EB072483FB6F37DBEBA490CBE31080CBF0681D5BE85EB713F8FC275BE31086C3F46B6533FA69B443E8FC2F5BEA245763F4260E5BB560E2DBE1058B9BE6210783F6F1283BCBE9FDABE7F6A3CBD378941BFFED4783E8B6CE7BDCFF7D3BEC520103F8B6C273F105879BFB81E853D8B6CE7BEDBF95E3F4E62103FD34D02BF7B14EEBED7A330BF355E7A3FCFF7D3BE1B2F5D3E60E550BDE17A943EF4FD543E1058F93E819543BF4260053FBA49CCBE4C37893D9EEFA7BE3BDFCFBE8FC2753D736891BD04568EBE48E1FA3E355E3A3EDF4F6DBFA470FDBEA245B6BD7D3F553FF0A7463F355EBA3D759378BF8D970E3FE17A14BEBE9F1A3EF4FDD43E022B873EBC7413BD21B0523FFA7E6ABE1B2F5DBE5839343F5A641BBF4E62D0BEC3F5283F3F355EBFBA492C3F022BC73E4C3709BEBE9FDABEB29D0F3F0E2D523F3D0A37BFC52030BD39B4C83D0AD7A3BB6891ADBE736831BFC520303E77BE1F3F91ED5CBF713D0ABF8195233F0681153F8B6CA73EAAF172BF0AD7E33EF4FD743F643B7F3FF2D2CD3E79E966BFA01A2F3F3BDF0FBFF4FD943E8B6C673F9A99D93ED1223BBFE17AD4BE1904563FBC7433BFD34D623EC52030BE68912DBF48E17A3E5EBA69BF39B448BFD9CE77BED1225BBF5C8F62BFBE9F1A3EEC51F83EC1CA413FD1223BBFBA490CBEB6F3BDBECDCC4C3E3108ACBC1283603F250681BEF85363BF713DCA3E21B032BFF0A7863EA69B443C0E2D523FAE47E13DD9CE773E21B0F2BEAAF1D23D6DE7FBBE8941003F96430B3D5A643BBF9EEF07BF931884BE21B0F23E931824BFBE9FDA3E52B89E3EE17A54BF3108AC3E736851BF000040BF1283403E54E305BF2506413F77BE1FBD6ABCB4BED9CE173F60E570BF6666E63EA69B64BF21B032BF8B6C673F1058B93EF2D20DBFA69B44BF85EB713FC3F5A83E9318243FEC5138BF0000803EF4FD94BE14AE07BFFA7EAABED578693ED1229BBEFA7E6ABEAC1C3ABFD578293F508D973E6DE71B3F273108BECFF7333F295C0F3DA4703D3E2B87163E8FC2F53E190456BE04564EBFA01A6FBFEC5118BFA8C66BBF8B6C473FE3A51BBD4260053F77BE7FBF8FC275BD14AE473F6ABC743E986E12BEDF4F8DBD560E4DBF60E530BF8D972EBF128380BEFA7E6ABEE5D0423F0E2D32BF6DE7FBBE0AD7E3BEDF4F2DBFAC1CDABE14AE07BFBC7413BDB29D6FBF1058593FDD2486BE8941603F0000C03E0E2DB23ED57869BD9318643F819543BF448BAC3E1904D6BE21B0B23E0C02EB3E448B2CBF871619BF333373BFE7FB09BF621058BF83C04ABE986E723F83C08ABE1283C0BE6F1283BD3F35DEBE7B14EE3E643BDF3EBA492CBF2FDD04BFC520B03E3789613F0681953E04560EBEBC74733F08AC7CBF9CC460BFA01A0F3FEC5138BEC3F568BFF0A7C63DBE9F7A3FE3A51B3D9A9999BE3BDF4FBFE3A55BBFBA494C3FBC7493BCDBF95E3F1D5A64BFF85303BFDD2466BF"
    }
  }
#-}
