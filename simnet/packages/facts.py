"""Realistic dimensions of chip packages, with where each comes from.

Every length is in millimetres. ``FACTS`` maps a name to a ``Fact``: the span (``lo``..``hi``) a
packaging engineer would accept for that dimension, its unit ("mm", "count" or "ratio"), a short
citation and a note holding the typical value. A source written as "industry typical (...)" was
not confirmed against a document found during the research; it is common engineering knowledge
and says where it is usually seen. ``HBM`` holds the JEDEC footprint and stack height of each HBM
generation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    lo: float
    hi: float
    unit: str  # "mm", "count" or "ratio"
    source: str  # short citation with URL when known
    note: str = ""  # e.g. "typical 0.15"


# Sources used more than once.
_AMKOR_PBGA = (
    "Amkor PBGA data sheet (ball pitch/diameter table), https://dtsheet.com/doc/1095466/amkor-pbga"
)
_AMKOR_FCCSP = "Amkor fcCSP data sheet, https://pdf.elecfans.com/AMKOR/FCCSP.html"
_AMKOR_FCBGA = "Amkor FCBGA data sheet, http://www.datasheetandpdf.com/EN/AMKOR/1/FCBGA.htm"
_WLCSP_DS = (
    "Cirrus CS53L30 WLCSP drawing, http://38.142.81.21:8001/manual/cirrus-logic/cs53l30/"
    "user-manual-english/page-65.html; ST STM32F103 WLCSP64 table, "
    "http://38.142.81.21:8001/manual/stmicroelectronics/stm32f103vdt6/"
    "datasheet-english/page-115.html"
)
_TI_WCSP = (
    "TI WCSP FAQ, http://www.ti.com/lsds/ti/quality/faqs/wafer_level_chip_scale_package_faqs.page"
)
_INTEL_PKG = (
    "AnandTech, Intel Accelerated: EMIB and Foveros roadmap, https://www.anandtech.com/show/16823/"
    "intel-accelerated-offensive-process-roadmap-updates-to-10nm-7nm-4nm-3nm-20a-18a-packaging-"
    "foundry-emib-foveros/4"
)
_HBM4_JEDEC = "JEDEC JESD270-4A (HBM4, Nov 2025) sec. 11.2-11.3, Tables 110-111; outline MO-362"
_TSMC_COWOS = (
    "TSMC 3DFabric CoWoS page, "
    "https://3dfabric.tsmc.com/schinese/dedicatedFoundry/technology/cowos.htm"
)
_SOIC = (
    "AnandTech (A. Shilov, 2024) TSMC SoIC roadmap 9 um -> 3 um, "
    "http://forums4.anandtech.com/tag/tsmc-a16; "
    "3D InCites SoIC <10 um bond pitch, https://www.3dincites.com/awardnominee/55820/"
)
_SKHYNIX_30UM = (
    "SK hynix 12-Hi HBM3: DRAM die ~30 um, "
    "https://www.worldstockmarket.net/almost-1-tb-s-hynix-introduces-hbm3-worlds-fastest-dram/5"
)
_POP = (
    "Package-on-Package overview (PoP generations table), "
    "https://www.chipfoundryservices.com/topic/package-on-package"
)
_MCHP_QFN = (
    "Microchip VQFN drawings C04-483 / C04-401C, https://onlinedocs.microchip.com/oxy/"
    "GUID-2BBF0A73-A043-4A40-A6CA-0FF154E4BFFE-en-US-8/"
    "GUID-A4986746-09D0-4BF3-A3C0-8D25CE8EF6F1-high.pdf"
)
_RETICLE = (
    "858 mm2 (26 x 33 mm) reticle limit, https://soylentnews.org/article.pl?sid=20/03/05/1947247; "
    "https://www.chipfoundryservices.com/topic/silicon-interposer"
)

FACTS: dict[str, Fact] = {
    # --- Ball grid / board level -------------------------------------------------------------
    "bga_pitch": Fact(
        0.4,
        1.27,
        "mm",
        f"{_AMKOR_PBGA}; NXP HBGA 1 mm pitch bodies, https://nxp.com/packages/search?q=HBGA",
        "typical 1.0 for large FCBGA, 0.8/0.65 mid-size, 0.4-0.5 fine-pitch BGA; 1.5 legacy PBGA",
    ),
    "bga_ball_ratio": Fact(
        0.5,
        0.65,
        "ratio",
        f"{_AMKOR_PBGA}; {_WLCSP_DS}",
        "typical 0.6 (0.63 mm ball at 1.0 pitch, 0.76 at 1.27, 0.26 at 0.4 WLCSP)",
    ),
    "csp_ball_pitch": Fact(
        0.3,
        0.8,
        "mm",
        f"{_TI_WCSP} (0.3/0.34/0.4/0.5); {_AMKOR_FCCSP} (fcCSP 0.5-1.0)",
        "typical 0.4 (WLCSP, fan-out); fcCSP 0.5-0.65, Amkor lists up to 1.0",
    ),
    "wlcsp_ball_diameter": Fact(
        0.15,
        0.35,
        "mm",
        _WLCSP_DS,
        "typical 0.25 (0.26 at 0.4 pitch, 0.32 at 0.5 pitch, ~0.18 at 0.3 pitch)",
    ),
    "bga_standoff_ratio": Fact(
        0.6,
        0.85,
        "ratio",
        f"{_WLCSP_DS} (A1 / b = 0.20/0.26, 0.23/0.32)",
        "typical 0.75 (collapsed height over ball diameter)",
    ),
    # --- Die-to-package ----------------------------------------------------------------------
    "c4_pitch": Fact(
        0.1,
        0.25,
        "mm",
        f"{_AMKOR_FCCSP} (150 um peripheral, 250 um area array); UCIe 1.0 standard package "
        "100-130 um bump pitch",
        "typical 0.15; Cu pillar on organic down to ~0.1, older area arrays 0.2-0.25",
    ),
    "c4_diameter": Fact(
        0.06,
        0.13,
        "mm",
        "industry typical (C4 / Cu-pillar bump about 0.5-0.6 x pitch, e.g. 90 um at 150 um pitch)",
        "typical 0.09",
    ),
    "micro_bump_pitch": Fact(
        0.025,
        0.065,
        "mm",
        f"{_INTEL_PKG} (EMIB 55->45 um, Foveros 50->36->25 um); UCIe 1.0 advanced package "
        f"25-55 um; {_HBM4_JEDEC} (HBM4 staggered 70 x 110 um, Pmin 65 um)",
        "typical 0.04 (CoWoS/EMIB 40-55 um); HBM4 JEDEC field min 0.065",
    ),
    "micro_bump_diameter": Fact(
        0.015,
        0.035,
        "mm",
        f"{_HBM4_JEDEC} (micro-pillar D = 28 um); industry typical about half the pitch",
        "typical 0.025",
    ),
    "hybrid_bond_pitch": Fact(
        0.001,
        0.01,
        "mm",
        f"{_SOIC}; {_INTEL_PKG} (Foveros Direct <10 um)",
        "typical 0.009 (SoIC gen 1), 0.006 current, 0.003 roadmap; ~1 um wafer-on-wafer",
    ),
    "bump_height": Fact(
        0.04,
        0.1,
        "mm",
        "industry typical (C4 joint standoff 60-80 um, Cu pillar + solder cap 40-70 um)",
        "typical 0.07",
    ),
    "micro_bump_height": Fact(
        0.01,
        0.04,
        "mm",
        "industry typical (Cu pillar + SnAg cap, joint gap 10-30 um; HBM inter-die NCF gap ~15 um)",
        "typical 0.02",
    ),
    # --- TSV ---------------------------------------------------------------------------------
    "tsv_diameter": Fact(
        0.004,
        0.015,
        "mm",
        "RIOSMPW/3DChipTech HBMandHMC.md (HBM/HMC TSVs ~5-6 um), https://github.com/RIOSMPW/"
        "3DChipTech/blob/main/HBMandHMC.md; industry typical 10 um x 100 um interposer TSV",
        "typical 0.006 in DRAM stacks, 0.010 in interposers",
    ),
    "tsv_pitch": Fact(
        0.02,
        0.15,
        "mm",
        "HBM4 TSV pitch 40-55 um moving below 25 um, "
        "https://www.lavandeer.today/articles/birplq3sgbuf7ndxo4gsapdx; industry typical for "
        "interposers",
        "typical 0.05 (DRAM stack); interposer TSVs 0.05-0.15",
    ),
    "interposer_thickness": Fact(
        0.05,
        0.12,
        "mm",
        "Silicon interposer 65-100 um after thinning, "
        "https://www.chipfoundryservices.com/topic/silicon-interposer; 120 um research interposer, "
        "https://discovery.researcher.life/article/design-simulation-and-process-development-for-"
        "25d-tsv-interposer-for-high-performance-processer-packaging/"
        "63bbb27034563517b1bdce8ff91f7d87",
        "typical 0.1 (CoWoS-S)",
    ),
    "hbm_core_die_thickness": Fact(
        0.025,
        0.055,
        "mm",
        f"{_SKHYNIX_30UM}; 8-Hi in 720 um implies ~45-50 um",
        "typical 0.04 (8-Hi ~0.05, 12-Hi ~0.03-0.035, 16-Hi ~0.03)",
    ),
    "hbm_base_die_thickness": Fact(
        0.04,
        0.12,
        "mm",
        "industry typical (HBM buffer/base die thinned to ~50-100 um, with TSVs)",
        "typical 0.06",
    ),
    # --- Interposer / bridge / RDL -----------------------------------------------------------
    "interposer_size": Fact(
        15.0,
        80.0,
        "mm",
        f"{_TSMC_COWOS} (CoWoS-S up to 3.3x reticle, ~2700 mm2); CoWoS-L ~4700 mm2 for Rubin, "
        "https://regantih.github.io/reports-lab/sand-to-superintelligence/chapters/"
        "12-cowos-hbm-drills.tsv",
        "typical 45 (A100 interposer ~45 x 38, H100-class ~2500 mm2); >52 needs CoWoS-L/R",
    ),
    "reticle": Fact(
        26.0,
        33.0,
        "mm",
        _RETICLE,
        "one exposure field 26 x 33 mm (858 mm2); die_side and single-shot interposers <= this",
    ),
    "rdl_interposer_layers": Fact(
        2.0,
        6.0,
        "count",
        f"{_TSMC_COWOS} (CoWoS-R RDL interposer, min 4 um pitch 2/2 um L/S); layer count "
        "industry typical",
        "typical 4",
    ),
    "rdl_layer_thickness": Fact(
        0.004,
        0.015,
        "mm",
        "industry typical (RDL Cu 2-5 um plus polyimide/PBO dielectric 4-10 um)",
        "typical 0.008",
    ),
    "bridge_length": Fact(
        2.0,
        12.0,
        "mm",
        "EMIB bridge ~4 x 4 mm to 8 x 12 mm, 55 um bump pitch, "
        "https://www.chipfoundryservices.com/topic/wire-bond-alternative",
        "typical 8 (along the die-to-die edge)",
    ),
    "bridge_width": Fact(
        1.0,
        8.0,
        "mm",
        "EMIB bridge ~4 x 4 mm to 8 x 12 mm, "
        "https://www.chipfoundryservices.com/topic/wire-bond-alternative; industry typical 2-4 mm",
        "typical 3 (across the die gap)",
    ),
    "bridge_thickness": Fact(
        0.03,
        0.1,
        "mm",
        "industry typical (EMIB / CoWoS-L LSI bridges thinned to <100 um to sit in a substrate "
        "cavity or mould)",
        "typical 0.075",
    ),
    "fanout_rdl_layers": Fact(
        1.0,
        6.0,
        "count",
        "industry typical (eWLB 1-2, InFO_PoP 3, InFO_oS / high-density fan-out 4-6)",
        "typical 3",
    ),
    "fanout_ball_pitch": Fact(
        0.35,
        0.5,
        "mm",
        f"{_TI_WCSP}; industry typical for FOWLP / InFO bottom balls",
        "typical 0.4",
    ),
    # --- Substrate ---------------------------------------------------------------------------
    "substrate_core_thickness": Fact(
        0.1,
        1.6,
        "mm",
        "AMITEC FCBGA cross-section (1.0 mm core, 20 um build-up), http://www.amitec.com/six.asp",
        "typical 0.8 for FCBGA; thin-core mobile 0.1-0.4; 0 for coreless",
    ),
    "buildup_layers_per_side": Fact(
        1.0,
        8.0,
        "count",
        "Nishio et al., IEMT 2003 (2-2-2 common, 3-4 build-up for high end), "
        "https://m.booksci.cn/literature/134575398.htm; 8-2-8 industry typical for AI substrates",
        "typical 3-4 (e.g. 4-2-4)",
    ),
    "buildup_layer_thickness": Fact(
        0.02,
        0.06,
        "mm",
        "AMITEC (20 um build-up), http://www.amitec.com/six.asp; ABF films 30-60 um, "
        "https://hilpcb.com/cn/products/ic-substrate-pcb",
        "typical 0.035 (ABF ~25-30 um dielectric + ~15 um Cu)",
    ),
    "substrate_thickness": Fact(
        0.2,
        2.8,
        "mm",
        f"{_AMKOR_PBGA} (2-layer 0.32, 4-layer 0.56); industry typical 1.0-2.0 for large FCBGA",
        "typical 1.2",
    ),
    "pop_bottom_substrate_thickness": Fact(
        0.1,
        0.4,
        "mm",
        "industry typical (thin-core / coreless 2-4 layer AP substrates for PoP)",
        "typical 0.25",
    ),
    # --- Dies --------------------------------------------------------------------------------
    "die_thickness": Fact(
        0.1,
        0.8,
        "mm",
        f"industry typical (300 mm wafer 775 um unthinned; mobile 100-200 um); "
        f"{_AMKOR_PBGA} (max die 13 mil = 0.33 mm)",
        "typical 0.75 for HPC flip-chip (thinned to HBM height on CoWoS), 0.15 mobile",
    ),
    "stacked_die_thickness": Fact(
        0.02,
        0.1,
        "mm",
        f"{_SKHYNIX_30UM}; industry typical 25-75 um for wire-bonded NAND/DRAM stacks",
        "typical 0.05",
    ),
    "die_side": Fact(
        1.0,
        33.0,
        "mm",
        _RETICLE,
        "typical 10-25 for logic; max 26 x 33 (reticle)",
    ),
    "die_attach_thickness": Fact(
        0.005,
        0.06,
        "mm",
        "industry typical (die-attach film 10-25 um, epoxy paste 25-50 um)",
        "typical 0.02",
    ),
    # --- Bodies by family --------------------------------------------------------------------
    "fcbga_body": Fact(
        10.0,
        100.0,
        "mm",
        f"{_AMKOR_FCBGA} (10-55 mm, 60/65 in development); industry typical up to ~100 mm for "
        "AI/server packages",
        "typical 40",
    ),
    "interposer_package_body": Fact(
        30.0,
        110.0,
        "mm",
        "A100 SXM4 substrate ~54 x 54 mm (measured, System Plus teardown as cited in public "
        "notes); industry typical 55-100 mm for CoWoS AI packages",
        "typical 55-75",
    ),
    "fcbga_height": Fact(
        1.0,
        4.0,
        "mm",
        "NXP HBGA 1.73-1.78 mm bodies, https://nxp.com/packages/search?q=HBGA; industry "
        "typical (substrate + die + bumps + 0.4-0.6 mm balls)",
        "typical 2.5 for a large bare-die FCBGA",
    ),
    "lid_thickness": Fact(
        0.5,
        3.0,
        "mm",
        "industry typical (Cu/Ni lid or IHS plate 1-2 mm; thin stiffener-lids 0.5 mm)",
        "typical 1.5",
    ),
    "lid_standoff": Fact(
        0.02,
        0.3,
        "mm",
        "industry typical (TIM1 bond line: polymer/gel 20-75 um, indium solder TIM 100-300 um)",
        "typical 0.05 polymer TIM, 0.2 solder TIM",
    ),
    "mould_cap_over_die": Fact(
        0.1,
        0.5,
        "mm",
        "industry typical (mould clearance above die / wire loops in BGA/CSP/QFN)",
        "typical 0.2",
    ),
    "wire_bond_body": Fact(
        2.0,
        40.0,
        "mm",
        f"{_AMKOR_PBGA} (13-40 mm PBGA); {_MCHP_QFN} (3-9 mm QFN)",
        "typical 12",
    ),
    "wire_diameter": Fact(
        0.015,
        0.05,
        "mm",
        "Wire diameters 0.6-3.0 mil (15-76 um) Au/Cu, "
        "http://www.utekinc.com/wire-bonding-services/",
        "typical 0.02-0.025 (0.8-1.0 mil); Al power wires 0.125-0.5 are out of this range",
    ),
    "wire_loop_height": Fact(
        0.05,
        0.25,
        "mm",
        "industry typical (low-loop 50-75 um for stacked die, standard 100-200 um)",
        "typical 0.12",
    ),
    "bond_pad_pitch": Fact(
        0.035,
        0.1,
        "mm",
        "TASA: production Au ball bond 60 um pitch heading to 40 um, https://www.tasanet.com/"
        f"Knowledge-Center/Articles/PgrID/477/PageID/2/PID/477/ev/1/CategoryID/88/CategoryName/"
        f"Manufacturing; {_AMKOR_PBGA} (min 2.4 mil = 61 um)",
        "typical 0.06",
    ),
    "bond_finger_pitch": Fact(
        0.05,
        0.2,
        "mm",
        "industry typical (substrate bond fingers 80-150 um in-line, ~50-60 um staggered)",
        "typical 0.1",
    ),
    "pop_total_height": Fact(
        0.8,
        1.6,
        "mm",
        f"{_POP} (1.4 mm LPDDR2 gen -> 1.2 -> 1.0 mm)",
        "typical 1.0-1.2 mounted",
    ),
    "pop_interconnect_pitch": Fact(
        0.3,
        0.65,
        "mm",
        f"{_POP} (0.65 -> 0.5 -> 0.4 mm, 0.35 advanced)",
        "typical 0.4",
    ),
    "info_pop_height": Fact(
        0.6,
        1.1,
        "mm",
        "industry typical (InFO_PoP bottom ~0.25-0.3 mm, ~20% thinner than FC-PoP); InFO_PoP "
        "paper, https://ieeexplore.ieee.org/abstract/document/7545402",
        "typical 0.8",
    ),
    "tmv_pitch": Fact(
        0.15,
        0.5,
        "mm",
        "industry typical (TMV at PoP interface pitch 0.4-0.5; InFO TIV Cu posts 0.15-0.3); "
        + _POP,
        "typical 0.4 (TMV), 0.25 (TIV)",
    ),
    "tmv_diameter": Fact(
        0.08,
        0.3,
        "mm",
        "industry typical (laser TMV opening 0.2-0.3 mm; plated TIV posts 80-200 um)",
        "typical 0.2 (TMV), 0.12 (TIV)",
    ),
    "fanout_body": Fact(
        3.0,
        25.0,
        "mm",
        "industry typical (eWLB/FOWLP 3-15 mm, InFO_PoP AP ~12-15 mm); InFO overview, "
        "https://semiconductorx.com/packaging-info.html",
        "typical 12; InFO_oS / InFO-SoW are far larger",
    ),
    "fanout_height": Fact(
        0.3,
        1.0,
        "mm",
        "industry typical (mould + RDL 0.25-0.6 mm plus 0.2-0.25 mm balls)",
        "typical 0.6",
    ),
    "wlcsp_body": Fact(
        0.5,
        8.0,
        "mm",
        f"{_WLCSP_DS} (2.6 x 2.2, 3.44 x 3.44, 4.47 x 4.40 mm)",
        "typical 3 (= die size)",
    ),
    "wlcsp_height": Fact(
        0.3,
        0.7,
        "mm",
        f"{_WLCSP_DS} (A = 0.45-0.56 and 0.535-0.635 mm)",
        "typical 0.5",
    ),
    "fccsp_body": Fact(
        3.0,
        15.0,
        "mm",
        f"{_AMKOR_FCCSP} (3-15 mm)",
        "typical 10",
    ),
    "qfn_body": Fact(
        1.0,
        12.0,
        "mm",
        f"{_MCHP_QFN} (3x3 to 9x9); JEDEC MO-220 family up to 12 x 12",
        "typical 5",
    ),
    "qfn_height": Fact(
        0.5,
        1.0,
        "mm",
        f"{_MCHP_QFN} (VQFN A = 0.80/0.90/1.00); UQFN 0.55 industry typical",
        "typical 0.9",
    ),
    "qfn_pitch": Fact(
        0.35,
        0.65,
        "mm",
        f"{_MCHP_QFN} (0.50 and 0.65 BSC); 0.4 common, industry typical",
        "typical 0.5",
    ),
    "qfp_body": Fact(
        5.0,
        32.0,
        "mm",
        "NXP SOT459-1 LQFP208 28 x 28 mm, onsemi LQFP216 24 x 24 mm (KiCad MR "
        "https://gitlab.com/kicad/libraries/kicad-footprints/-/merge_requests/1192); Microchip "
        "LQFP100 14 x 14",
        "typical 14",
    ),
    "qfp_height": Fact(
        1.0,
        3.5,
        "mm",
        "industry typical (JEDEC MS-026 TQFP 1.0 / LQFP 1.4 body, 1.2/1.6 max; MS-022 PQFP up "
        "to ~3.4)",
        "typical 1.6 (LQFP max)",
    ),
    "qfp_pitch": Fact(
        0.4,
        0.8,
        "mm",
        "KiCad MR 1192 (LQFP 0.5 and 0.4 mm pitch), "
        "https://gitlab.com/kicad/libraries/kicad-footprints/-/merge_requests/1192",
        "typical 0.5; 0.65/0.8 PQFP, 1.0 legacy",
    ),
    "leadframe_thickness": Fact(
        0.1,
        0.25,
        "mm",
        f"{_MCHP_QFN} (terminal thickness A3 = 0.20-0.203 REF); QFP frames 0.127-0.2 industry "
        "typical",
        "typical 0.2",
    ),
    "sip_body": Fact(
        3.0,
        30.0,
        "mm",
        "industry typical (RF/connectivity SiP modules 3-15 mm, wearable SiPs up to ~30 mm)",
        "typical 10",
    ),
    "sip_height": Fact(
        0.6,
        2.5,
        "mm",
        "Microchip BM20 module 2.5 +/- 0.2 mm incl. shield can, https://onlinedocs.microchip.com/"
        "oxy/GUID-26060FFF-4EA0-483D-BCBB-39AF46A5A76C-en-US-6/GUID-A8411197-5076-4EEE-9CB5-"
        "9A865C85193A.html; moulded SiP ~1 mm industry typical",
        "typical 1.0",
    ),
    "shield_thickness": Fact(
        0.002,
        0.015,
        "mm",
        "Nordson/Henkel, sputtered or sprayed package EMI shield in the sub-10 um range, "
        "https://iconnect007.com/article/119111/dispensing-emi-shielding-materials-an-"
        "alternative-to-sputtering/119114/smt",
        "typical 0.005 conformal (SUS/Cu/SUS); compartment shields = laser trench in mould "
        "filled with Ag paste, 0.1-0.2 wide; stamped can shields 0.1-0.2 sheet, 0.5-1 mm tall",
    ),
    "passive_length": Fact(
        0.4,
        1.6,
        "mm",
        "industry typical (EIA chip sizes 01005 0.4, 0201 0.6, 0402 1.0, 0603 1.6 mm)",
        "typical 0.6 (0201) on package; imperial size codes",
    ),
    "passive_width": Fact(
        0.2,
        0.8,
        "mm",
        "industry typical (EIA 01005 0.2, 0201 0.3, 0402 0.5, 0603 0.8 mm)",
        "typical 0.3 (0201)",
    ),
    "passive_height": Fact(
        0.1,
        0.9,
        "mm",
        "industry typical (thin MLCC/LSC 0.1-0.15, 01005 0.2, 0201 0.3, 0402 0.5, 0603 0.8 mm)",
        "typical 0.3; land-side caps under the package must stay below the ball height",
    ),
    "mcm_body": Fact(
        25.0,
        80.0,
        "mm",
        "industry typical (AMD EPYC SP3 58.5 x 75.4 mm, SP5 72 x 75.4 mm; Ryzen AM4/AM5 40 x 40)",
        "typical 58",
    ),
    "chiplet_gap": Fact(
        0.05,
        3.0,
        "mm",
        "industry typical (die-to-die gap on Si interposer/bridge 50-200 um; on organic MCM "
        "0.5-3 mm)",
        "typical 0.1 on interposer, 1.0 on organic",
    ),
    "underfill_fillet_width": Fact(
        0.1,
        1.0,
        "mm",
        "industry typical (capillary underfill fillet 0.2-0.6 mm; dispense keep-out 0.5-1.5 mm)",
        "typical 0.4",
    ),
    "underfill_fillet_height_ratio": Fact(
        0.3,
        1.0,
        "ratio",
        "industry typical (fillet should reach 50-100% of die thickness, never over the top)",
        "typical 0.7",
    ),
    "hbm_stack_gap": Fact(
        0.05,
        1.0,
        "mm",
        "industry typical (HBM-to-SoC spacing on CoWoS 0.1-0.5 mm, PHY-to-PHY route ~1-3 mm)",
        "typical 0.2",
    ),
    "stacked_3d_body": Fact(
        8.0,
        60.0,
        "mm",
        "industry typical (Intel Lakefield Foveros 12 x 12 mm; Foveros/SoIC client and server "
        "packages 25-60 mm)",
        "typical 20",
    ),
    "tsv_in_base_die": Fact(
        0.009,
        0.06,
        "mm",
        "industry typical (Foveros/SoIC base-die TSV pitch ~9-36 um, HBM base die 40-55 um)",
        "typical 0.04",
    ),
}

# JEDEC-fixed HBM package footprints (width, depth in mm) and the stack height (mm), per
# generation. "dies" lists the core-die counts per stack the standard allows.
HBM: dict[str, dict] = {
    "HBM2": {
        "footprint": (7.75, 11.87),
        "height": 0.72,
        "dies": (2, 4, 8),
        "source": "JEDEC JESD235A/B, KGSD 7.75 x 11.87 mm as cited by "
        "https://en.wikipedia.org/wiki/High_Bandwidth_Memory; 720 um height, "
        "https://www.inkl.com/news/sk-hynix-samples-24gb-hbm3-modules-up-to-819-gb-s",
        "note": "2-Hi allowed by JESD235A; products 4-Hi and 8-Hi",
    },
    "HBM2E": {
        "footprint": (7.75, 11.87),
        "height": 0.72,
        "dies": (4, 8, 12),
        "source": "JEDEC JESD235C (adds 12-Hi and a footprint option for 16 Gb layers), "
        "https://www.gamepc.com.au/news/jedec-updates-hbm-standard/9729/; 12-Hi kept at 720 um",
        "note": "same 7.75 x 11.87 outline as HBM2 for 8 Gb layers; the larger 16 Gb-layer "
        "option's size was not found",
    },
    "HBM3": {
        "footprint": (11.0, 11.0),
        "height": 0.72,
        "dies": (4, 8, 12, 16),
        "source": "JEDEC JESD238 (4/8/12-Hi, 16-Hi provision), "
        "https://soylentnews.org/article.pl?sid=22/01/28/1013228; ~11 x 11 mm per secondary "
        "sources (Chip Scale Review 2023 as cited in public notes); 12-Hi at 8-Hi height, "
        "https://www.inkl.com/news/sk-hynix-samples-24gb-hbm3-modules-up-to-819-gb-s",
        "note": "footprint approximate (JESD238 outline table not found)",
    },
    "HBM3E": {
        "footprint": (11.0, 11.0),
        "height": 0.72,
        "dies": (8, 12, 16),
        "source": "JEDEC JESD238 family; Micron HBM3E 11 x 11 mm cube (public notes), "
        "'industry-standard package dimension', "
        "https://telecomlead.com/semiconductor/micron-sets-new-records-with-24gb-hbm3-gen2-"
        "memory-111504",
        "note": "footprint approximate; shipped stacks are 8-Hi, 12-Hi and 16-Hi",
    },
    "HBM4": {
        "footprint": (12.775, 10.975),
        "footprint_32gb": (14.175, 10.975),
        "height": 0.775,
        "height_range": (0.75, 0.8),
        "dies": (4, 8, 12, 16),
        "microbump": {"x": 0.070, "y": 0.110, "pitch_min": 0.065, "diameter": 0.028},
        "source": _HBM4_JEDEC + "; 775 um relaxation, https://trendforce.com/news/2025/04/28/"
        "news-following-jedecs-hbm4-standard-whats-next-for-sk-hynix-samsung-and-micron",
        "note": "footprint A (24 Gb/die) 12.775 x 10.975; footprint B (32 Gb/die) "
        "14.175 x 10.975; 775 +/- 25 um for every stack height",
    },
}


def fact(name: str) -> Fact:
    return FACTS[name]
