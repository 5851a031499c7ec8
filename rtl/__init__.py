"""RTL without a vendor tool: da4ml Verilog of a converted project, Verilator, Yosys."""
