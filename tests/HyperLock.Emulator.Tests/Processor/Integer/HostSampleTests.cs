using HyperLock.Emulator.Processor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace HyperLock.Emulator.Tests.Processor.Integer;

public class IntegerHostSampleTests
{
    /// <summary>
    /// Samples recorded on an Intel host at development time (a C program with inline assembly):
    /// form, RAX, RDX, RCX, arithmetic flags in, then RAX, RDX and arithmetic flags out. Flags the
    /// SDM leaves undefined are compared too: the emulator follows this host for them.
    /// </summary>
    public static TheoryData<string, ulong, ulong, ulong, ulong, ulong, ulong, ulong> Samples => new()
    {
        { "mul16", 0x4bced3ba3b2eaUL, 0xc5ead764617b0f0fUL, 0x31c37aca2339dad1UL, 0x804UL, 0x4bced3ba3550aUL, 0xc5ead764617b98edUL, 0x805UL },
        { "mul16", 0x5eUL, 0x8c07fe77d210ec5aUL, 0x2UL, 0x894UL, 0xbcUL, 0x8c07fe77d2100000UL, 0x0UL },
        { "mul16", 0x1adc262a4b622381UL, 0x24145b80cc002786UL, 0x1UL, 0x5UL, 0x1adc262a4b622381UL, 0x24145b80cc000000UL, 0x4UL },
        { "mul16", 0xfe081b48988c87e1UL, 0x6808be89373c46aeUL, 0x299aee72c9d055a3UL, 0x8c0UL, 0xfe081b48988c3943UL, 0x6808be89373c2d74UL, 0x801UL },
        { "mul16", 0xf1930d1cb9406a33UL, 0x671141dcd1200627UL, 0x532acec17f912febUL, 0x54UL, 0xf1930d1cb940d9d1UL, 0x671141dcd12013e0UL, 0x885UL },
        { "mul16", 0x5aUL, 0xfc07b819ee46ea8cUL, 0x59UL, 0x91UL, 0x1f4aUL, 0xfc07b819ee460000UL, 0x0UL },
        { "mul16", 0x7ae9fccb7966e138UL, 0xa07aa6d6afff62faUL, 0x1UL, 0x890UL, 0x7ae9fccb7966e138UL, 0xa07aa6d6afff0000UL, 0x80UL },
        { "mul16", 0xf823120728752405UL, 0xfa980f3f41f66f0dUL, 0xcb1606d04e29e093UL, 0x90UL, 0xf823120728750edfUL, 0xfa980f3f41f61f99UL, 0x801UL },
        { "mul16", 0x8e4f3a1c1761a4fdUL, 0x2add26f23251f8f4UL, 0x43ed9cd2b15fe605UL, 0x881UL, 0x8e4f3a1c176186f1UL, 0x2add26f23251943eUL, 0x881UL },
        { "mul16", 0x38UL, 0x2859e10fa00f3294UL, 0xf1UL, 0x80UL, 0x34b8UL, 0x2859e10fa00f0000UL, 0x4UL },
        { "mul16", 0xf1ef0546efb5a945UL, 0xbf6723515c863357UL, 0x0UL, 0x84UL, 0xf1ef0546efb50000UL, 0xbf6723515c860000UL, 0x4UL },
        { "mul16", 0x9140cc73dd1ca665UL, 0xdca0f838a591a669UL, 0x8487abaffab43f65UL, 0x851UL, 0x9140cc73dd1c80d9UL, 0xdca0f838a5912934UL, 0x881UL },
        { "mul64", 0x2d17235494a99a2fUL, 0x5dab03e56115a2dbUL, 0x3c9cb550e4585f5eUL, 0x840UL, 0xf5bced8862a60e42UL, 0xaad0650f5d05b3eUL, 0x885UL },
        { "mul64", 0x90UL, 0xe71c5f7fb66c02e3UL, 0x26UL, 0x880UL, 0x1560UL, 0x0UL, 0x4UL },
        { "mul64", 0x47be37467757bbf5UL, 0x28ebe60d4aad49c2UL, 0x1UL, 0xd4UL, 0x47be37467757bbf5UL, 0x0UL, 0x4UL },
        { "mul64", 0x543f136e1e442879UL, 0x5d31d9fceaaf9e69UL, 0xd682ce80bd7a7b15UL, 0x881UL, 0x746cd96fd9b374edUL, 0x4697c63b0abf8bc4UL, 0x805UL },
        { "mul64", 0xacfb18696cc957b6UL, 0x7d5e94fc7781e899UL, 0x9eee3c378817ed08UL, 0xd0UL, 0x7fba99cb5dd83bb0UL, 0x6b63f33222c7eb28UL, 0x801UL },
        { "mul64", 0x53UL, 0x620c399edea5839dUL, 0xdaUL, 0x45UL, 0x46aeUL, 0x0UL, 0x0UL },
        { "mul64", 0x7b86c87afb24bb89UL, 0xabac252a31f130beUL, 0x1UL, 0xc5UL, 0x7b86c87afb24bb89UL, 0x0UL, 0x0UL },
        { "mul64", 0xb9f6d89d5ba25b6cUL, 0x103d3cd24b5a44daUL, 0xc06cd8df7c6086d3UL, 0x14UL, 0x505cabe81b2be204UL, 0x8bc83424064192e1UL, 0x801UL },
        { "mul64", 0x95e6e251ab702bb8UL, 0x541c2c279a8525efUL, 0xda84e40b88cb464UL, 0x4UL, 0x6f513335ff2e73e0UL, 0x7ff46d4ea0b010bUL, 0x801UL },
        { "mul64", 0x64UL, 0xca52691ab26af61aUL, 0x76UL, 0x14UL, 0x2e18UL, 0x0UL, 0x4UL },
        { "mul64", 0xd405aa8810e94ebeUL, 0x621e275df40af3a3UL, 0x0UL, 0x851UL, 0x0UL, 0x0UL, 0x4UL },
        { "mul64", 0x29b034446224730fUL, 0xbd87124addcf1829UL, 0xf5b0640f8005ac59UL, 0x41UL, 0x8a2cdbd55b451437UL, 0x28025b74bb872828UL, 0x881UL },
        { "imul8", 0xc6707f24e21980adUL, 0x5d45f1f16c7038ecUL, 0xb53200b15281639dUL, 0x10UL, 0xc6707f24e2192019UL, 0x5d45f1f16c7038ecUL, 0x801UL },
        { "imul8", 0xd6UL, 0x68d89e43f0f0187bUL, 0x8bUL, 0x844UL, 0x1332UL, 0x68d89e43f0f0187bUL, 0x801UL },
        { "imul8", 0x83e1cd45f7d63874UL, 0x798d7c2a5cb10904UL, 0x1UL, 0xc0UL, 0x83e1cd45f7d60074UL, 0x798d7c2a5cb10904UL, 0x4UL },
        { "imul8", 0xa06f18acc7ff8287UL, 0xa95b56d3e9443c42UL, 0x915f198f5165e4baUL, 0xd1UL, 0xa06f18acc7ff2116UL, 0xa95b56d3e9443c42UL, 0x801UL },
        { "imul8", 0x396000b41912c3b0UL, 0xe426b55d79880a37UL, 0x325940264ff977e3UL, 0x8c4UL, 0x396000b419120910UL, 0xe426b55d79880a37UL, 0x801UL },
        { "imul8", 0xf7UL, 0xdeb5e61fc491b396UL, 0x71UL, 0x51UL, 0xfc07UL, 0xdeb5e61fc491b396UL, 0x801UL },
        { "imul8", 0x452baf745644da9bUL, 0x6f4bc6ec9f5195eeUL, 0x1UL, 0x15UL, 0x452baf745644ff9bUL, 0x6f4bc6ec9f5195eeUL, 0x80UL },
        { "imul8", 0x306bf5916de758d1UL, 0x997fd07cd9b08220UL, 0x340e13128a2f6b24UL, 0x8d0UL, 0x306bf5916de7f964UL, 0x997fd07cd9b08220UL, 0x801UL },
        { "imul8", 0xc4f7c0b30d6c28bUL, 0xee42108890caadceUL, 0xe4226967f0d38b15UL, 0x841UL, 0xc4f7c0b30d6f667UL, 0xee42108890caadceUL, 0x801UL },
        { "imul8", 0x11UL, 0xa52806b4d47f8d73UL, 0xa9UL, 0x54UL, 0xfa39UL, 0xa52806b4d47f8d73UL, 0x805UL },
        { "imul8", 0x1145be5d56fc3fdcUL, 0xb694a1e0b5e3b0a3UL, 0x0UL, 0xd4UL, 0x1145be5d56fc0000UL, 0xb694a1e0b5e3b0a3UL, 0x4UL },
        { "imul8", 0xd7c26102e4cdfe53UL, 0x691522834f6f916fUL, 0x4f2f01898b22f58dUL, 0x4UL, 0xd7c26102e4cddab7UL, 0x691522834f6f916fUL, 0x885UL },
        { "imul16_2", 0x3caf9a710979bc57UL, 0x3e2f7d35f750baefUL, 0x709a6fc2df79405aUL, 0x50UL, 0x3caf9a710979f696UL, 0x3e2f7d35f750baefUL, 0x885UL },
        { "imul16_2", 0x12UL, 0xf02cb3b1b79c8a54UL, 0x40UL, 0x4UL, 0x480UL, 0xf02cb3b1b79c8a54UL, 0x0UL },
        { "imul16_2", 0xe5e8c522e1803e0eUL, 0xfcf7873a38697df2UL, 0x1UL, 0xc4UL, 0xe5e8c522e1803e0eUL, 0xfcf7873a38697df2UL, 0x0UL },
        { "imul16_2", 0x31a709e1eacac267UL, 0xd49985179fa52e23UL, 0xe5eef825e56b8cbfUL, 0x44UL, 0x31a709e1eaca5ed9UL, 0xd49985179fa52e23UL, 0x801UL },
        { "imul16_2", 0xb3d104c171367eceUL, 0xe30b5b96b2f461b3UL, 0x74ce23aca5df85b0UL, 0x91UL, 0xb3d104c1713633a0UL, 0xe30b5b96b2f461b3UL, 0x805UL },
        { "imul16_2", 0xd6UL, 0x431f11a00020eab3UL, 0xa6UL, 0x8c1UL, 0x8ac4UL, 0x431f11a00020eab3UL, 0x881UL },
        { "imul16_2", 0x967f306df805c234UL, 0xa4755ff413a3c4b0UL, 0x1UL, 0x5UL, 0x967f306df805c234UL, 0xa4755ff413a3c4b0UL, 0x80UL },
        { "imul16_2", 0x7526b1c84927b23UL, 0x7a5634ba384bf715UL, 0x5f10b11c2b5205bbUL, 0x850UL, 0x7526b1c8492a191UL, 0x7a5634ba384bf715UL, 0x881UL },
        { "imul16_2", 0x64c11f46a378d62eUL, 0x76d84d2332ca6c02UL, 0xd9dbc445fb00b85aUL, 0x880UL, 0x64c11f46a3785c2cUL, 0x76d84d2332ca6c02UL, 0x801UL },
        { "imul16_2", 0xf5UL, 0x2a19381b4fad7320UL, 0xc6UL, 0x885UL, 0xbd7eUL, 0x2a19381b4fad7320UL, 0x885UL },
        { "imul16_2", 0xe99b2eb7d4f97a7eUL, 0x12541b030455d70aUL, 0x0UL, 0xd0UL, 0xe99b2eb7d4f90000UL, 0x12541b030455d70aUL, 0x4UL },
        { "imul16_2", 0xa10e85663dd79131UL, 0x7df3ea85d2c85253UL, 0x2c58d41b0d5d3637UL, 0x91UL, 0xa10e85663dd78787UL, 0x7df3ea85d2c85253UL, 0x885UL },
        { "imul64_2", 0x5dcd4424fd7e00eeUL, 0x64db1e0e25c7076fUL, 0xd913be42cde2b2a1UL, 0x884UL, 0x2df624dc710011aeUL, 0x64db1e0e25c7076fUL, 0x801UL },
        { "imul64_2", 0x7bUL, 0x794ece41baba34a1UL, 0x88UL, 0x11UL, 0x4158UL, 0x794ece41baba34a1UL, 0x0UL },
        { "imul64_2", 0xc9c3cc0b916fad95UL, 0xc7966b734708b78eUL, 0x1UL, 0x801UL, 0xc9c3cc0b916fad95UL, 0xc7966b734708b78eUL, 0x84UL },
        { "imul64_2", 0xc75061d4f4fdf73UL, 0x28b9793aa5d2fc0dUL, 0x2426e6940ecdfab5UL, 0x800UL, 0x8a8553d74cc64a4fUL, 0x28b9793aa5d2fc0dUL, 0x881UL },
        { "imul64_2", 0xe2be72699f369cd8UL, 0x62b20365ddf6c7e1UL, 0x29ce63ab575cf22eUL, 0x40UL, 0xf637ab201b45ed0UL, 0x62b20365ddf6c7e1UL, 0x801UL },
        { "imul64_2", 0xcaUL, 0xe452f7d9790bba93UL, 0x26UL, 0x54UL, 0x1dfcUL, 0xe452f7d9790bba93UL, 0x4UL },
        { "imul64_2", 0x487b17d95d966090UL, 0x52f3b15d96056851UL, 0x1UL, 0x4UL, 0x487b17d95d966090UL, 0x52f3b15d96056851UL, 0x4UL },
        { "imul64_2", 0xb3064d5bb835554cUL, 0xba0b315a7175ece6UL, 0xa28c756bd80efebfUL, 0x880UL, 0x8cbc2dda24940bb4UL, 0xba0b315a7175ece6UL, 0x885UL },
        { "imul64_2", 0xa2d5fc4c0e4a695bUL, 0x979a56b1df75cb49UL, 0x37fd44247deed29fUL, 0x8d0UL, 0xcfefb2614c3e1585UL, 0x979a56b1df75cb49UL, 0x881UL },
        { "imul64_2", 0xebUL, 0x6cf8988a96204e5eUL, 0x42UL, 0x850UL, 0x3c96UL, 0x6cf8988a96204e5eUL, 0x4UL },
        { "imul64_2", 0xc3cfe6114c0f68a2UL, 0x976cd4bdbdbf1ef3UL, 0x0UL, 0x8d4UL, 0x0UL, 0x976cd4bdbdbf1ef3UL, 0x4UL },
        { "imul64_2", 0x3cfebe74a0dc4c8fUL, 0x7e91a40598b337d6UL, 0x20fe865711c76439UL, 0x91UL, 0xb34881bbe11de7d7UL, 0x7e91a40598b337d6UL, 0x885UL },
        { "imul32_3", 0x2da782daad94536fUL, 0x81cac1aa77a44009UL, 0x38ccf4f417c82ac9UL, 0x8d4UL, 0xd8cb218bUL, 0x81cac1aa77a44009UL, 0x885UL },
        { "imul32_3", 0x8dUL, 0xc47e02c18da4afc2UL, 0x1dUL, 0x8d1UL, 0xfffff747UL, 0xc47e02c18da4afc2UL, 0x84UL },
        { "imul32_3", 0x73a07f7ba81b3c0aUL, 0x546fe866afe148f2UL, 0x1UL, 0xc4UL, 0xffffffb3UL, 0x546fe866afe148f2UL, 0x80UL },
        { "imul32_3", 0xbb9deef09d4a9ec1UL, 0xf30980bc4a779bbcUL, 0xa95a8d056b641b8bUL, 0x54UL, 0xb2e3b731UL, 0xf30980bc4a779bbcUL, 0x881UL },
        { "imul32_3", 0x73adfdccd2c8f4deUL, 0x533980cdc2a592b7UL, 0x9236fccd6ab69452UL, 0x8d0UL, 0xe7156356UL, 0x533980cdc2a592b7UL, 0x885UL },
        { "imul32_3", 0x21UL, 0xb52da5dcf8e0c5a5UL, 0x6eUL, 0x54UL, 0xffffdeeaUL, 0xb52da5dcf8e0c5a5UL, 0x80UL },
        { "imul32_3", 0x1980e50939ec0bfaUL, 0x64a22740b386d6dUL, 0x1UL, 0xd0UL, 0xffffffb3UL, 0x64a22740b386d6dUL, 0x80UL },
        { "imul32_3", 0xce15dddc228bd6d7UL, 0x7f3980fd6b9594baUL, 0x8c11ecb56496d113UL, 0x851UL, 0xbea31d49UL, 0x7f3980fd6b9594baUL, 0x881UL },
        { "imul32_3", 0x260b0ff87f53b381UL, 0x975fb271847dd4a6UL, 0x222424d24f8ac68fUL, 0xc0UL, 0x134246fdUL, 0x975fb271847dd4a6UL, 0x801UL },
        { "imul32_3", 0x63UL, 0x8420cccfb5b5efa5UL, 0x3aUL, 0x800UL, 0xffffee8eUL, 0x8420cccfb5b5efa5UL, 0x84UL },
        { "imul32_3", 0x23a0733f264f6330UL, 0x1c2e57a3445131f6UL, 0x0UL, 0x801UL, 0x0UL, 0x1c2e57a3445131f6UL, 0x4UL },
        { "imul32_3", 0x67b3da7aca65ed5bUL, 0xe8a54c723ba31041UL, 0xfb89f720995a6621UL, 0x885UL, 0xdfcf4813UL, 0xe8a54c723ba31041UL, 0x881UL },
        { "bsr16", 0xed26f98974ebb32fUL, 0xc307adacb5994f89UL, 0x880c19c8ddfcbf56UL, 0x80UL, 0xed26f98974eb000fUL, 0xc307adacb5994f89UL, 0x4UL },
        { "bsr16", 0xfUL, 0xe2ec2cc07b34eaf5UL, 0x60UL, 0x854UL, 0x6UL, 0xe2ec2cc07b34eaf5UL, 0x4UL },
        { "bsr16", 0x91a616fec33abcaUL, 0xa21d6720b6427e1dUL, 0x1UL, 0x50UL, 0x91a616fec330000UL, 0xa21d6720b6427e1dUL, 0x4UL },
        { "bsr16", 0x28bafeaa8551e132UL, 0x9538015624e54e70UL, 0x54bad02329e918ecUL, 0xd5UL, 0x28bafeaa8551000cUL, 0x9538015624e54e70UL, 0x4UL },
        { "bsr16", 0xe0ef85cfa0ea107eUL, 0xaa145371709c1bdeUL, 0x330ae5981ed21469UL, 0x801UL, 0xe0ef85cfa0ea000cUL, 0xaa145371709c1bdeUL, 0x4UL },
        { "bsr16", 0x55UL, 0x423b1815a943fdd7UL, 0xecUL, 0x811UL, 0x7UL, 0x423b1815a943fdd7UL, 0x0UL },
        { "bsr16", 0x4bc7dd2e874b32e9UL, 0x22ba1474134c3eccUL, 0x1UL, 0xd0UL, 0x4bc7dd2e874b0000UL, 0x22ba1474134c3eccUL, 0x4UL },
        { "bsr16", 0x4f544243f8a6f293UL, 0xccc9145f7fd57bb6UL, 0x133b48576280fcc1UL, 0x850UL, 0x4f544243f8a6000fUL, 0xccc9145f7fd57bb6UL, 0x4UL },
        { "bsr16", 0x53edabea881096a2UL, 0x51674cfff5ef5f0fUL, 0x3fc47743ded0a271UL, 0x855UL, 0x53edabea8810000fUL, 0x51674cfff5ef5f0fUL, 0x4UL },
        { "bsr16", 0x4bUL, 0x12be8b0c8a49c189UL, 0x4aUL, 0xc0UL, 0x6UL, 0x12be8b0c8a49c189UL, 0x4UL },
        { "bsr16", 0x10455e44b9a96ccfUL, 0x1f3c3cd2acb4edd6UL, 0x0UL, 0x884UL, 0x10455e44b9a96ccfUL, 0x1f3c3cd2acb4edd6UL, 0x44UL },
        { "bsr16", 0xbcae048ba0553313UL, 0x600706167f513db5UL, 0x51b02c3054a528eUL, 0x81UL, 0xbcae048ba055000eUL, 0x600706167f513db5UL, 0x0UL },
        { "adc8", 0xf4d87f19625de1bcUL, 0xb125d2591128b57fUL, 0x5041d28c48225bd5UL, 0x800UL, 0xf4d87f19625de191UL, 0xb125d2591128b57fUL, 0x91UL },
        { "adc8", 0x36UL, 0x2bf9855a6db6a6daUL, 0x17UL, 0x885UL, 0x4eUL, 0x2bf9855a6db6a6daUL, 0x4UL },
        { "adc8", 0xf45dde0f88ec9418UL, 0x619b6bfaa83b4b30UL, 0x1UL, 0x8c5UL, 0xf45dde0f88ec941aUL, 0x619b6bfaa83b4b30UL, 0x0UL },
        { "adc8", 0x2b8c4f7c5a77ea7aUL, 0xa4528757742adb2eUL, 0xc7520f2281218518UL, 0x10UL, 0x2b8c4f7c5a77ea92UL, 0xa4528757742adb2eUL, 0x890UL },
        { "adc8", 0xc7e7a22455fa4f92UL, 0xee503aaa152a1f8dUL, 0xd29e213599208f2UL, 0x41UL, 0xc7e7a22455fa4f85UL, 0xee503aaa152a1f8dUL, 0x81UL },
        { "adc8", 0x3UL, 0x5feee9ec765a9d7fUL, 0x85UL, 0x8c0UL, 0x88UL, 0x5feee9ec765a9d7fUL, 0x84UL },
        { "adc8", 0x3808d0c6139c7c15UL, 0x4775dcdd347ce1adUL, 0x1UL, 0x0UL, 0x3808d0c6139c7c16UL, 0x4775dcdd347ce1adUL, 0x0UL },
        { "adc8", 0x99766bbfc21b5aeUL, 0xd691f30f0f8b5d45UL, 0xc96c30ced95babfUL, 0x800UL, 0x99766bbfc21b56dUL, 0xd691f30f0f8b5d45UL, 0x811UL },
        { "adc8", 0x616fa5bc160ddb36UL, 0xba953b50cc31cd00UL, 0xa4e26c66854eee9aUL, 0xc5UL, 0x616fa5bc160ddbd1UL, 0xba953b50cc31cd00UL, 0x94UL },
        { "adc8", 0x2cUL, 0x8c543c9c0f41f2aeUL, 0xcbUL, 0x814UL, 0xf7UL, 0x8c543c9c0f41f2aeUL, 0x90UL },
        { "adc8", 0xc089bfc832c7f3aeUL, 0x475982b542b957c9UL, 0x0UL, 0x40UL, 0xc089bfc832c7f3aeUL, 0x475982b542b957c9UL, 0x80UL },
        { "adc8", 0x2fc65744e3f6b5c6UL, 0xc9bc14e5937ee92dUL, 0x84385248a5b9ffbfUL, 0x80UL, 0x2fc65744e3f6b585UL, 0xc9bc14e5937ee92dUL, 0x91UL },
        { "sbb16", 0xde68c310894fb35cUL, 0x48bcdc29fbae7b3aUL, 0xf3aa89dbde38a94cUL, 0x814UL, 0xde68c310894f0a10UL, 0x48bcdc29fbae7b3aUL, 0x0UL },
        { "sbb16", 0x88UL, 0x89ad4ff1bfd15e7dUL, 0x81UL, 0x844UL, 0x7UL, 0x89ad4ff1bfd15e7dUL, 0x0UL },
        { "sbb16", 0x3fdc10021e55db12UL, 0x6a798394dc35f424UL, 0x1UL, 0x8c1UL, 0x3fdc10021e55db10UL, 0x6a798394dc35f424UL, 0x80UL },
        { "sbb16", 0xaaa026aa99a8ee5aUL, 0x91c0e9a269676906UL, 0x16627f59d5e72654UL, 0x810UL, 0xaaa026aa99a8c806UL, 0x91c0e9a269676906UL, 0x84UL },
        { "sbb16", 0x6664b49fcae544e2UL, 0xb7a76a23096bf6ebUL, 0xc0661bab9cd5fbc6UL, 0x91UL, 0x6664b49fcae5491bUL, 0xb7a76a23096bf6ebUL, 0x15UL },
        { "sbb16", 0x32UL, 0x747110e56445bfc8UL, 0xb7UL, 0xd0UL, 0xff7bUL, 0x747110e56445bfc8UL, 0x95UL },
        { "sbb16", 0x9ba8512d099546bbUL, 0x4751d7fedbeca2f6UL, 0x1UL, 0x8d5UL, 0x9ba8512d099546b9UL, 0x4751d7fedbeca2f6UL, 0x0UL },
        { "sbb16", 0x23cf2410ca28d3c6UL, 0x889d50ce1c32b3e1UL, 0x161c2fdac7560ec6UL, 0x51UL, 0x23cf2410ca28c4ffUL, 0x889d50ce1c32b3e1UL, 0x94UL },
        { "sbb16", 0x6bb50b12d8d00e3dUL, 0x36136fe3ca678161UL, 0xca5c00fc08793623UL, 0x885UL, 0x6bb50b12d8d0d819UL, 0x36136fe3ca678161UL, 0x81UL },
        { "sbb16", 0x16UL, 0x50491887a3f4c0b0UL, 0x31UL, 0x51UL, 0xffe4UL, 0x50491887a3f4c0b0UL, 0x85UL },
        { "sbb16", 0x14f2d10d9f8efab5UL, 0xc63db48a6c59ea00UL, 0x0UL, 0x845UL, 0x14f2d10d9f8efab4UL, 0xc63db48a6c59ea00UL, 0x84UL },
        { "sbb16", 0x86f3f289ab9c90b1UL, 0xfdb819868659a5d0UL, 0x4ecb8bd3ecb0629bUL, 0x94UL, 0x86f3f289ab9c2e16UL, 0xfdb819868659a5d0UL, 0x810UL },
        { "neg8", 0x22aa817eec7ffa5dUL, 0xdef1b46c94c032e9UL, 0x54de29c92a2028ccUL, 0x895UL, 0x22aa817eec7ffaa3UL, 0xdef1b46c94c032e9UL, 0x95UL },
        { "neg8", 0x6aUL, 0x21bc2631da8bada4UL, 0xffUL, 0x90UL, 0x96UL, 0x21bc2631da8bada4UL, 0x95UL },
        { "neg8", 0x66b477aad6c3fa7dUL, 0xb7c13696c94d42c9UL, 0x1UL, 0x90UL, 0x66b477aad6c3fa83UL, 0xb7c13696c94d42c9UL, 0x91UL },
        { "neg8", 0x5ca89d53405cc633UL, 0xaef822e54fd5937fUL, 0x2fe2468bcd730799UL, 0xd4UL, 0x5ca89d53405cc6cdUL, 0xaef822e54fd5937fUL, 0x91UL },
        { "neg8", 0x99d919ad3324fc19UL, 0x76f5194b18bc93a1UL, 0x5127a512765122c6UL, 0x1UL, 0x99d919ad3324fce7UL, 0x76f5194b18bc93a1UL, 0x95UL },
        { "neg8", 0x21UL, 0x5940546b2eeb476dUL, 0xa3UL, 0x894UL, 0xdfUL, 0x5940546b2eeb476dUL, 0x91UL },
        { "neg8", 0x1f276490f665f541UL, 0xd303f0106d8a4eebUL, 0x1UL, 0x815UL, 0x1f276490f665f5bfUL, 0xd303f0106d8a4eebUL, 0x91UL },
        { "neg8", 0xb7942a21f6edace3UL, 0x5b1ec33be5032f7aUL, 0x1bb6233fd8a5b7a4UL, 0xc1UL, 0xb7942a21f6edac1dUL, 0x5b1ec33be5032f7aUL, 0x15UL },
        { "neg8", 0x19bd5631c721b020UL, 0x820d2d87ac47fb40UL, 0x608c38ac04e5a4b6UL, 0x55UL, 0x19bd5631c721b0e0UL, 0x820d2d87ac47fb40UL, 0x81UL },
        { "neg8", 0xbbUL, 0x3e29c9b58c55d636UL, 0x1aUL, 0xd0UL, 0x45UL, 0x3e29c9b58c55d636UL, 0x11UL },
        { "neg8", 0x220531bf6f06ddbfUL, 0xf6f4ae57b4505fc4UL, 0x0UL, 0x85UL, 0x220531bf6f06dd41UL, 0xf6f4ae57b4505fc4UL, 0x15UL },
        { "neg8", 0xd72536f963cadc00UL, 0xac739ec1ab4a49b8UL, 0x27eb9b8cd5efb32bUL, 0x85UL, 0xd72536f963cadc00UL, 0xac739ec1ab4a49b8UL, 0x44UL },
        { "btc64", 0xe4e8b03c5e08e521UL, 0x381f95d9817f9cabUL, 0x124ad0a3ccab2952UL, 0x880UL, 0xe4e8b03c5e0ce521UL, 0x381f95d9817f9cabUL, 0x880UL },
        { "btc64", 0x57UL, 0xa63dc66bfa6b78c9UL, 0x78UL, 0x0UL, 0x100000000000057UL, 0xa63dc66bfa6b78c9UL, 0x0UL },
        { "btc64", 0x1abc2a1568f9a0e6UL, 0x6ac9eabd1c12aa27UL, 0x1UL, 0x894UL, 0x1abc2a1568f9a0e4UL, 0x6ac9eabd1c12aa27UL, 0x895UL },
        { "btc64", 0x5f7dec3d805ac8e1UL, 0xb222c1667e946530UL, 0xce892505982201faUL, 0x851UL, 0x5b7dec3d805ac8e1UL, 0xb222c1667e946530UL, 0x851UL },
        { "btc64", 0x2351b19b0c2a3bcfUL, 0x3e34fa348f357c78UL, 0xbe3b86f395fb0880UL, 0x891UL, 0x2351b19b0c2a3bceUL, 0x3e34fa348f357c78UL, 0x891UL },
        { "btc64", 0x6cUL, 0x500a92716f4f3a5aUL, 0xaeUL, 0x8c1UL, 0x40000000006cUL, 0x500a92716f4f3a5aUL, 0x8c0UL },
        { "btc64", 0x38088e9e285ec418UL, 0xd38d4b7a241c7f90UL, 0x1UL, 0xc1UL, 0x38088e9e285ec41aUL, 0xd38d4b7a241c7f90UL, 0xc0UL },
        { "btc64", 0x94f0c6887a049506UL, 0x998f78b1422d1dacUL, 0xb2de72e25175ac97UL, 0x4UL, 0x94f0c6887a849506UL, 0x998f78b1422d1dacUL, 0x4UL },
        { "btc64", 0xd90d3816ec35a48aUL, 0x8a450a702293ad43UL, 0x1b213f156627bad9UL, 0xc4UL, 0xd90d3816ee35a48aUL, 0x8a450a702293ad43UL, 0xc4UL },
        { "btc64", 0x2bUL, 0x976128c9ba93c2c3UL, 0x86UL, 0x45UL, 0x6bUL, 0x976128c9ba93c2c3UL, 0x44UL },
        { "btc64", 0xb5b68169d9f9990dUL, 0x7f14033955f3897fUL, 0x0UL, 0x44UL, 0xb5b68169d9f9990cUL, 0x7f14033955f3897fUL, 0x45UL },
        { "btc64", 0x5e906ea1db2a15c4UL, 0xe93cfc2c717fb0efUL, 0x779b003ea8f0944eUL, 0xc4UL, 0x5e906ea1db2a55c4UL, 0xe93cfc2c717fb0efUL, 0xc4UL },
        { "bts16", 0x25de973efc1448ceUL, 0x828d21e22a5993dfUL, 0x2a3c924424623738UL, 0x854UL, 0x25de973efc1449ceUL, 0x828d21e22a5993dfUL, 0x854UL },
        { "bts16", 0xacUL, 0xfd924c171aafdb4dUL, 0xbbUL, 0x894UL, 0x8acUL, 0xfd924c171aafdb4dUL, 0x894UL },
        { "bts16", 0x9af7c6dbe05634a9UL, 0xa5a1eab9a18e9280UL, 0x1UL, 0x90UL, 0x9af7c6dbe05634abUL, 0xa5a1eab9a18e9280UL, 0x90UL },
        { "bts16", 0xf789a8649f956f3bUL, 0xa0c20dccc85ceb25UL, 0x2764d4caacf43bb3UL, 0x804UL, 0xf789a8649f956f3bUL, 0xa0c20dccc85ceb25UL, 0x805UL },
        { "bts16", 0x80bde1905065a4baUL, 0xd4614e3ddfdd0173UL, 0x8c065e34fc6e87b1UL, 0xd4UL, 0x80bde1905065a4baUL, 0xd4614e3ddfdd0173UL, 0xd5UL },
        { "bts16", 0x53UL, 0x586d16e03cb6e9b7UL, 0xa4UL, 0x95UL, 0x53UL, 0x586d16e03cb6e9b7UL, 0x95UL },
        { "bts16", 0xdebde3dc28d9e09aUL, 0xb616dfccf15535dbUL, 0x1UL, 0x40UL, 0xdebde3dc28d9e09aUL, 0xb616dfccf15535dbUL, 0x41UL },
        { "bts16", 0x8808c79ce6ad3bceUL, 0xca250b5177255239UL, 0x1c64d64fdb62b6ddUL, 0xd0UL, 0x8808c79ce6ad3bceUL, 0xca250b5177255239UL, 0xd1UL },
        { "bts16", 0xc09da0565d31dc39UL, 0xfe3149d0a5f991c1UL, 0x410fda092daa32a2UL, 0x845UL, 0xc09da0565d31dc3dUL, 0xfe3149d0a5f991c1UL, 0x844UL },
        { "bts16", 0x9bUL, 0xea1160caa303bd3aUL, 0xc0UL, 0x881UL, 0x9bUL, 0xea1160caa303bd3aUL, 0x881UL },
        { "bts16", 0x1046bdd6e0a2a2d6UL, 0xf471fa2215b79213UL, 0x0UL, 0x804UL, 0x1046bdd6e0a2a2d7UL, 0xf471fa2215b79213UL, 0x804UL },
        { "bts16", 0x5ce1b8fa7e0c935cUL, 0x7e823daa214bdd7aUL, 0x17a5afd2f4d15440UL, 0xc0UL, 0x5ce1b8fa7e0c935dUL, 0x7e823daa214bdd7aUL, 0xc0UL },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void MatchesHost(string form, ulong rax, ulong rdx, ulong rcx, ulong flagsIn, ulong raxOut, ulong rdxOut, ulong flagsOut)
    {
        using var s = Snip.Run(a =>
        {
            Emit(a, form);
            a.int3();
        }, c => { c.R(Reg.Rax) = rax; c.R(Reg.Rdx) = rdx; c.R(Reg.Rcx) = rcx; c.SetRflags(0x202 | flagsIn); });
        s.AssertInt3();
        Assert.Equal(raxOut, s.R(Reg.Rax));
        Assert.Equal(rdxOut, s.R(Reg.Rdx));
        Assert.Equal(flagsOut, s.Flags);
    }

    private static void Emit(Assembler a, string form)
    {
        switch (form)
        {
            case "mul16": a.mul(cx); break;
            case "mul64": a.mul(rcx); break;
            case "imul8": a.imul(cl); break;
            case "imul16_2": a.imul(ax, cx); break;
            case "imul64_2": a.imul(rax, rcx); break;
            case "imul32_3": a.imul(eax, ecx, -77); break;
            case "bsr16": a.bsr(ax, cx); break;
            case "adc8": a.adc(al, cl); break;
            case "sbb16": a.sbb(ax, cx); break;
            case "neg8": a.neg(al); break;
            case "btc64": a.btc(rax, rcx); break;
            default: a.bts(ax, cx); break;
        }
    }
}
